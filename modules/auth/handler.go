package auth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
)

type handler struct{ svc *Service }

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Tenant is a tenant's slug: needed only when the address and password
	// belong to users of several tenants (409 tenant_required).
	Tenant string `json:"tenant,omitempty"`
}

type loginResponse struct {
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	ExpiresIn   int    `json:"expiresIn"`
}

func (h handler) login(c echo.Context) error {
	var req loginRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" || len(req.Password) > 1024 || len(req.Tenant) > 64 {
		return errBadCredentials
	}
	token, err := h.svc.Login(c.Request().Context(), LoginInput{Email: req.Email, Password: req.Password,
		Tenant: req.Tenant, Addr: c.RealIP()})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, loginResponse{AccessToken: token, TokenType: "Bearer", ExpiresIn: int(tokenTTL.Seconds())})
}

type userView struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

func toUserView(u User) userView {
	return userView{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt.UTC()}
}

type tenantView struct {
	ID        uuid.UUID `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	Status    string    `json:"status"`
	SoftLimit *int64    `json:"softLimit"`
	HardLimit *int64    `json:"hardLimit"`
	Weight    *int      `json:"weight"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func toTenantView(t Tenant) tenantView {
	return tenantView{ID: t.ID, Slug: t.Slug, Name: t.Name, Plan: t.Plan, Status: t.Status,
		SoftLimit: t.SoftLimit, HardLimit: t.HardLimit, Weight: t.Weight, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
}

func (h handler) me(c echo.Context) error {
	ctx := c.Request().Context()
	p := MustPrincipal(ctx)
	u, t, err := h.svc.Me(ctx, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": toUserView(u), "tenant": toTenantView(t)})
}

type apiKeyView struct {
	ID         uuid.UUID  `json:"id"`
	Label      string     `json:"label"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

func toAPIKeyView(k APIKey) apiKeyView {
	return apiKeyView{ID: k.ID, Label: k.Label, Prefix: k.Prefix, Scopes: k.Scopes, CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: httpx.UTC(k.ExpiresAt), RevokedAt: httpx.UTC(k.RevokedAt), LastUsedAt: httpx.UTC(k.LastUsedAt)}
}

func (h handler) listKeys(c echo.Context) error {
	page, err := httpx.ReadPage(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := h.svc.ListAPIKeys(ctx, TenantID(ctx), page.Before, page.Limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewList(rows, page.Limit, func(k APIKey) uuid.UUID { return k.ID }, toAPIKeyView))
}

type createKeyRequest struct {
	Label     string     `json:"label"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

func (h handler) createKey(c echo.Context) error {
	var req createKeyRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	k, raw, err := h.svc.CreateAPIKey(ctx, TenantID(ctx), req.Label, req.Scopes, req.ExpiresAt)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, struct {
		apiKeyView
		Key string `json:"key"`
	}{toAPIKeyView(k), raw})
}

func (h handler) revokeKey(c echo.Context) error {
	id, err := httpx.PathID(c, errKeyNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.svc.RevokeAPIKey(ctx, TenantID(ctx), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h handler) listUsers(c echo.Context) error {
	page, err := httpx.ReadPage(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := h.svc.ListUsers(ctx, TenantID(ctx), page.Before, page.Limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewList(rows, page.Limit, func(u User) uuid.UUID { return u.ID }, toUserView))
}

type createUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

func (h handler) createUser(c echo.Context) error {
	var req createUserRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := MustPrincipal(ctx)
	u, err := h.svc.CreateUser(ctx, p, req.Email, req.Password, req.Role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toUserView(u))
}

type updateUserRequest struct {
	Role string `json:"role"`
}

func (h handler) updateUser(c echo.Context) error {
	id, err := httpx.PathID(c, errUserNotFound)
	if err != nil {
		return err
	}
	var req updateUserRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := MustPrincipal(ctx)
	u, err := h.svc.UpdateUserRole(ctx, p, id, req.Role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUserView(u))
}

func (h handler) deleteUser(c echo.Context) error {
	id, err := httpx.PathID(c, errUserNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := MustPrincipal(ctx)
	if id == p.UserID {
		return apperr.Conflict("cannot_delete_self", "You cannot delete your own user.")
	}
	if err := h.svc.DeleteUser(ctx, p, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// Operator API.

type createTenantRequest struct {
	Slug      string       `json:"slug"`
	Name      string       `json:"name"`
	Plan      string       `json:"plan"`
	SoftLimit *int64       `json:"softLimit"`
	HardLimit *int64       `json:"hardLimit"`
	Owner     *ownerFields `json:"owner"`
}

type ownerFields struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (h handler) createTenant(c echo.Context) error {
	var req createTenantRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	in := CreateTenantInput{Slug: req.Slug, Name: req.Name, Plan: req.Plan, SoftLimit: req.SoftLimit, HardLimit: req.HardLimit}
	if req.Owner != nil {
		in.OwnerEmail, in.OwnerPassword = req.Owner.Email, req.Owner.Password
	}
	out, err := h.svc.CreateTenant(c.Request().Context(), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, struct {
		tenantView
		APIKey       string `json:"apiKey"`
		APIKeyPrefix string `json:"apiKeyPrefix"`
	}{toTenantView(out.Tenant), out.APIKey, out.APIKeyPrefix})
}

func (h handler) listTenants(c echo.Context) error {
	page, err := httpx.ReadPage(c)
	if err != nil {
		return err
	}
	rows, err := h.svc.ListTenants(c.Request().Context(), page.Before, page.Limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewList(rows, page.Limit, func(t Tenant) uuid.UUID { return t.ID }, toTenantView))
}

func (h handler) getTenant(c echo.Context) error {
	id, err := httpx.PathID(c, errTenantNotFound)
	if err != nil {
		return err
	}
	t, err := h.svc.GetTenant(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTenantView(t))
}

type patchTenantRequest struct {
	Status    *string         `json:"status"`
	Plan      *string         `json:"plan"`
	SoftLimit json.RawMessage `json:"softLimit"` // null clears the override
	HardLimit json.RawMessage `json:"hardLimit"`
	Weight    json.RawMessage `json:"weight"` // null: the plan's default
}

func (h handler) patchTenant(c echo.Context) error {
	id, err := httpx.PathID(c, errTenantNotFound)
	if err != nil {
		return err
	}
	var req patchTenantRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	p := TenantPatch{Status: req.Status, Plan: req.Plan}
	for _, l := range []struct {
		name  string
		raw   json.RawMessage
		dst   **int64
		clear *bool
	}{{"softLimit", req.SoftLimit, &p.SoftLimit, &p.ClearSoftLimit}, {"hardLimit", req.HardLimit, &p.HardLimit, &p.ClearHardLimit},
		{"weight", req.Weight, &p.Weight, &p.ClearWeight}} {
		switch {
		case len(l.raw) == 0:
		case bytes.Equal(l.raw, []byte("null")):
			*l.clear = true
		default:
			var n int64
			if err := json.Unmarshal(l.raw, &n); err != nil {
				return apperr.BadRequest("invalid_json", "A field has the wrong type.",
					apperr.FieldError{Field: l.name, Message: "must be an integer or null"})
			}
			*l.dst = &n
		}
	}
	t, err := h.svc.UpdateTenant(c.Request().Context(), id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTenantView(t))
}
