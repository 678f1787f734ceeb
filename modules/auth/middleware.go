package auth

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/logx"
)

// HeaderAPIKey carries a producer's API key.
const HeaderAPIKey = "X-Api-Key" //nolint:gosec // G101: a header name, not a credential

// APIKeyAuth authenticates the x-api-key header (ingestion).
func (m *Module) APIKeyAuth() echo.MiddlewareFunc {
	return m.authenticate(true, false)
}

// TokenAuth authenticates a bearer JWT (management).
func (m *Module) TokenAuth() echo.MiddlewareFunc {
	return m.authenticate(false, true)
}

// AnyAuth accepts either an API key or a bearer JWT (reading events).
func (m *Module) AnyAuth() echo.MiddlewareFunc {
	return m.authenticate(true, true)
}

func (m *Module) authenticate(keys, tokens bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			var p Principal
			var err error
			apiKeys := req.Header.Values(HeaderAPIKey)
			switch {
			case keys && len(apiKeys) > 0:
				if len(apiKeys) > 1 {
					return apperr.Unauthorized("invalid_api_key", "Send exactly one x-api-key header.")
				}
				p, err = m.Service.AuthenticateKey(req.Context(), apiKeys[0], c.RealIP())
			case tokens && req.Header.Get(echo.HeaderAuthorization) != "":
				raw, ok := bearer(req)
				if !ok {
					return apperr.Unauthorized("invalid_token", "Send Authorization: Bearer <token>.")
				}
				p, err = m.Service.AuthenticateToken(req.Context(), raw)
			case keys && !tokens:
				return apperr.Unauthorized("missing_api_key", "Send your API key in the x-api-key header.")
			case tokens && !keys:
				return apperr.Unauthorized("missing_token", "Send Authorization: Bearer <token> (from POST /api/auth/login).")
			default:
				return apperr.Unauthorized("missing_credentials", "Send an x-api-key header or a bearer token.")
			}
			if err != nil {
				return err
			}
			ctx := logx.WithTenantID(WithPrincipal(req.Context(), p), p.TenantID.String())
			c.SetRequest(req.WithContext(ctx))
			return next(c)
		}
	}
}

func bearer(req *http.Request) (string, bool) {
	h := req.Header.Values(echo.HeaderAuthorization)
	if len(h) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 4096 {
		return "", false
	}
	return strings.TrimSpace(token), true
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

// Require is the one place roles are enforced: safe methods (GET, HEAD) need
// at least role read, everything else at least role write. Every management
// route is mounted behind it.
func Require(read, write string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := PrincipalFrom(c.Request().Context())
			if !ok || !p.IsUser() {
				return apperr.Unauthorized("missing_token", "Send Authorization: Bearer <token>.")
			}
			need := write
			if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
				need = read
			}
			if !p.AtLeast(need) {
				return apperr.Forbidden("insufficient_role", "This action needs the "+need+" role or higher.")
			}
			return next(c)
		}
	}
}

// AdminAuth guards the operator API with ADMIN_TOKEN as a bearer token.
func (m *Module) AdminAuth() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			raw, ok := bearer(c.Request())
			if !ok || !m.Service.AuthenticateAdmin(raw) {
				return apperr.Unauthorized("invalid_admin_token", "The operator API needs Authorization: Bearer <ADMIN_TOKEN>.")
			}
			return next(c)
		}
	}
}
