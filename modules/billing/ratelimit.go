package billing

import (
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/ratelimit"
)

// RateLimitKey buckets API keys by key at their plan's ingest rate, and
// users by tenant at their plan's management rate. It runs after
// authentication.
func RateLimitKey(plans Catalog) ratelimit.KeyFunc {
	return func(c echo.Context) (string, float64, int, bool) {
		p, ok := auth.PrincipalFrom(c.Request().Context())
		if !ok {
			return "", 0, 0, false
		}
		plan := plans.Plan(p.Plan)
		if p.IsUser() {
			return "tenant:" + p.TenantID.String(), plan.ManageRate, plan.ManageBurst, true
		}
		return "key:" + p.KeyID.String(), plan.IngestRate, plan.IngestBurst, true
	}
}
