package auth

import (
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/logx"
)

// HeaderAPIKey carries a producer's API key.
const HeaderAPIKey = "X-Api-Key"

// APIKeyAuth authenticates the x-api-key header and puts the Principal in
// the request context.
func (m *Module) APIKeyAuth() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			values := req.Header.Values(HeaderAPIKey)
			switch len(values) {
			case 0:
				return apperr.Unauthorized("missing_api_key", "Send your API key in the x-api-key header.")
			case 1:
			default:
				return apperr.Unauthorized("invalid_api_key", "Send exactly one x-api-key header.")
			}
			p, err := m.Service.AuthenticateKey(req.Context(), values[0])
			if err != nil {
				return err
			}
			ctx := logx.WithTenantID(WithPrincipal(req.Context(), p), p.TenantID.String())
			c.SetRequest(req.WithContext(ctx))
			return next(c)
		}
	}
}

// RequireScope lets through only principals holding scope.
func RequireScope(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := PrincipalFrom(c.Request().Context())
			if !ok {
				return apperr.Unauthorized("unauthorized", "Authentication is required.")
			}
			if !p.Can(scope) {
				return apperr.Forbidden("insufficient_scope", "This credential lacks the "+scope+" scope.")
			}
			return next(c)
		}
	}
}
