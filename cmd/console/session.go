package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Cookies. The session cookie holds the API's access token (a JWT): it
// expires with it, is HttpOnly (no script reads it), SameSite=Strict (no
// other site's request carries it) and Secure when the request came over
// TLS. The login cookie is the sign-in form's CSRF secret; the flash
// cookie carries one notice across a redirect (never a secret).
const (
	sessionCookie = "signalops_session"
	loginCookie   = "signalops_login"
	flashCookie   = "signalops_flash"
)

// Roles, lowest first (auth's ranks).
var roleRank = map[string]int{"viewer": 1, "member": 2, "admin": 3, "owner": 4}

func (s *Console) cookie(c echo.Context, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: Prefix + "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, //nolint:gosec // G124: Secure whenever the request came over TLS; plain HTTP is local development
		Secure: c.Scheme() == "https"}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge.Seconds())
		ck.Expires = time.Now().Add(maxAge)
	} else {
		ck.MaxAge = -1
		ck.Expires = time.Unix(0, 0)
	}
	c.SetCookie(ck)
}

// csrfToken binds a form to the session: an HMAC of the session token, so
// a page of another session (or another site) cannot forge it.
func (s *Console) csrfToken(token string) string {
	m := hmac.New(sha256.New, s.opts.Secret)
	m.Write([]byte("signalops console csrf\x00"))
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sameOrigin refuses cross-site state changes from browsers that say so
// (Sec-Fetch-Site, Origin): a second line behind the token.
func (s *Console) sameOrigin(c echo.Context) bool {
	return s.origins.Check(c.Request()) == nil
}

// safeNext is a console path to return to after sign-in, or the overview.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix + "/"
	}
	// A cleaned path, so "/console/../api" cannot leave the console.
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	if !strings.HasPrefix(clean, Prefix+"/") {
		return Prefix + "/"
	}
	u.Path, u.RawPath = clean, ""
	return u.RequestURI()
}

func (s *Console) newClient(c echo.Context, token string) *client {
	return &client{api: s.api, token: token, remote: c.Request().RemoteAddr,
		reqID: c.Response().Header().Get(echo.HeaderXRequestID), record: s.opts.RecordAPI}
}

// home is the overview when signed in, the sign-in form otherwise.
func (s *Console) home(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		return s.page(s.overview)(c)
	}
	return s.signInForm(c, http.StatusOK, c.QueryParam("next"), "", "")
}

type signInData struct {
	Next, Email, Problem, LoginToken, Hint string
	// Tenant is asked for when the email and password belong to users of
	// several tenants (the API's 409 tenant_required).
	Tenant     string
	NeedTenant bool
}

func (s *Console) signInForm(c echo.Context, status int, next, email, problem string) error {
	return s.signInPage(c, status, signInData{Next: next, Email: email, Problem: problem})
}

func (s *Console) signInPage(c echo.Context, status int, d signInData) error {
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	token := base64.RawURLEncoding.EncodeToString(secret)
	s.cookie(c, loginCookie, token, time.Hour)
	if d.Problem == "" {
		d.Problem = s.takeFlash(c)
	}
	d.Next, d.LoginToken, d.Hint = safeNext(d.Next), token, s.opts.SignInHint
	return s.renderPage(c, status, "signin", view{Title: "Sign in", P: d})
}

func (s *Console) signIn(c echo.Context) error {
	next, email := c.FormValue("next"), strings.TrimSpace(c.FormValue("email"))
	ck, err := c.Cookie(loginCookie)
	if err != nil || ck.Value == "" || !hmac.Equal([]byte(ck.Value), []byte(c.FormValue("csrf"))) || !s.sameOrigin(c) {
		return s.signInForm(c, http.StatusForbidden, next, email, "The sign-in form expired. Please try again.")
	}
	var tok struct {
		AccessToken string `json:"accessToken"`
		ExpiresIn   int    `json:"expiresIn"`
	}
	cl := s.newClient(c, "")
	body := map[string]string{"email": email, "password": c.FormValue("password")}
	tenant := strings.TrimSpace(c.FormValue("tenant"))
	if tenant != "" {
		body["tenant"] = tenant
	}
	err = cl.do(c.Request().Context(), http.MethodPost, "/api/auth/login", body, &tok)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusConflict && ae.Code == "tenant_required":
		return s.signInPage(c, http.StatusConflict, signInData{Next: next, Email: email, Tenant: tenant, NeedTenant: true,
			Problem: "This email signs in to several tenants: give the tenant's short name (slug) too."})
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		return s.signInForm(c, http.StatusTooManyRequests, next, email,
			"Too many sign-in attempts from here. Wait a few seconds and try again.")
	case errors.As(err, &ae) && ae.Status < 500:
		return s.signInForm(c, http.StatusUnauthorized, next, email, "The email or password is wrong.")
	case err != nil:
		return s.errorPage(c, view{Title: "Sign in"}, err)
	}
	s.cookie(c, loginCookie, "", 0)
	s.cookie(c, sessionCookie, tok.AccessToken, time.Duration(tok.ExpiresIn)*time.Second)
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

func (s *Console) signOut(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil && s.sameOrigin(c) &&
		hmac.Equal([]byte(s.csrfToken(ck.Value)), []byte(c.FormValue("csrf"))) {
		s.cookie(c, sessionCookie, "", 0)
		s.setFlash(c, "You are signed out.")
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/")
}

func (s *Console) setFlash(c echo.Context, msg string) {
	s.cookie(c, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), time.Minute)
}

func (s *Console) takeFlash(c echo.Context) string {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return ""
	}
	s.cookie(c, flashCookie, "", 0)
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 500 {
		return ""
	}
	return string(b)
}

// request is one signed-in page request.
type request struct {
	echo.Context
	s     *Console
	api   *client
	me    me
	csrf  string
	flash string
}

// page wraps a handler that needs a signed-in user: it checks the session
// and, for a state change, the CSRF token and the origin, then reads
// GET /api/me (which validates the token and gives the current role).
func (s *Console) page(h func(*request) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			return s.toSignIn(c, "")
		}
		r := &request{Context: c, s: s, api: s.newClient(c, ck.Value), csrf: s.csrfToken(ck.Value)}
		if c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
			if !s.sameOrigin(c) || !hmac.Equal([]byte(r.csrf), []byte(c.FormValue("csrf"))) {
				return s.errorPage(c, r.view(""), &apiError{Status: http.StatusForbidden,
					Detail: "The form expired or came from another site. Reload the page and try again."})
			}
		}
		if err := r.api.get(r.ctx(), "/api/me", &r.me); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				s.cookie(c, sessionCookie, "", 0)
				return s.toSignIn(c, "Your session ended. Please sign in again.")
			}
			return s.errorPage(c, view{}, err)
		}
		r.flash = s.takeFlash(c)
		return h(r)
	}
}

// toSignIn sends the browser to the sign-in form, then back here.
func (s *Console) toSignIn(c echo.Context, msg string) error {
	if msg != "" {
		s.setFlash(c, msg)
	}
	next := c.Request().URL.RequestURI()
	if c.Request().Method != http.MethodGet {
		next = c.Request().Referer()
		if u, err := url.Parse(next); err == nil {
			next = u.RequestURI()
		}
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/?next="+url.QueryEscape(safeNext(next)))
}

func (r *request) ctx() context.Context { return r.Request().Context() }

func (r *request) atLeast(role string) bool { return roleRank[r.me.User.Role] >= roleRank[role] }

func (r *request) view(title string) view {
	return view{Title: title, Me: &r.me, CSRF: r.csrf, Flash: r.flash,
		CanWrite: r.atLeast("member"), IsAdmin: r.atLeast("admin"), IsOwner: r.atLeast("owner")}
}

// render shows a page of section active.
func (r *request) render(status int, name, active, title string, p any) error {
	v := r.view(title)
	v.Active, v.P = active, p
	return r.s.renderPage(r.Context, status, name, v)
}

// fail renders an error page for err (an API problem keeps its status).
func (r *request) fail(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		r.s.cookie(r.Context, sessionCookie, "", 0)
		return r.s.toSignIn(r.Context, "Your session ended. Please sign in again.")
	}
	return r.s.errorPage(r.Context, r.view(""), err)
}

// listFailed answers a list page whose API call failed: the page again
// with the API's problem beside the filter when the API refused the filter
// (400), the error page otherwise. d points to the page's data, problem to
// its Problem.
func (r *request) listFailed(err error, page, title string, d any, problem **apiError) error {
	if *problem = problemOf(err, http.StatusBadRequest); *problem != nil {
		return r.render(http.StatusBadRequest, page, page, title, d)
	}
	return r.fail(err)
}

func (r *request) notFound() error {
	return r.fail(&apiError{Status: http.StatusNotFound, RequestID: r.Response().Header().Get(echo.HeaderXRequestID)})
}

// done ends a state change: a notice for the next page, and back to it.
func (r *request) done(to, notice string) error {
	if notice != "" {
		r.s.setFlash(r.Context, notice)
	}
	return r.Redirect(http.StatusSeeOther, to)
}
