package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/httpx"
)

// Prefix is where the console is mounted.
const Prefix = "/console"

// StreamRoute is the console's live tail (a proxy of the API's stream): a
// long-lived route that bounds itself, exempt from REQUEST_TIMEOUT.
const StreamRoute = Prefix + "/events/stream"

//go:embed templates static
var assets embed.FS

// Options are what the console needs from the process.
type Options struct {
	// Secret keys the CSRF tokens (cmd derives it from JWT_SECRET).
	Secret []byte
	Logger *slog.Logger
	// RecordAPI, when set, is told of every API call (tests check each
	// route is documented).
	RecordAPI func(method, path string)
	// SignInHint, when set, is shown under the sign-in form (dev: the demo
	// owner's credentials; see SetSignInHint).
	SignInHint string
	// WebhookAddrAllowed, when set, reports whether the server delivers
	// webhooks to an address (WEBHOOK_ALLOW_PRIVATE off: public addresses
	// only). The webhook form then refuses a URL on localhost or a private
	// address at once, saying why, instead of letting every delivery fail.
	WebhookAddrAllowed func(netip.Addr) bool
}

// SetSignInHint sets the line shown under the sign-in form; call it
// before serving.
func (s *Console) SetSignInHint(hint string) { s.opts.SignInHint = hint }

// Console serves the web console.
type Console struct {
	opts    Options
	api     http.Handler // the router the console is mounted on
	pages   map[string]*template.Template
	static  map[string]staticFile
	logger  *slog.Logger
	origins *http.CrossOriginProtection
}

type staticFile struct {
	body        []byte
	contentType string
	version     string
}

// New parses the embedded templates and assets.
func New(opts Options) (*Console, error) {
	if len(opts.Secret) == 0 || opts.Logger == nil {
		return nil, errors.New("console: Secret and Logger are required")
	}
	s := &Console{opts: opts, pages: map[string]*template.Template{}, static: map[string]staticFile{},
		logger: opts.Logger, origins: http.NewCrossOriginProtection()}
	files, err := fs.Glob(assets, "static/*")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := assets.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		s.static[path.Base(f)] = staticFile{body: b, contentType: mime.TypeByExtension(path.Ext(f)), version: hex.EncodeToString(sum[:6])}
	}
	pages, err := fs.Glob(assets, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		t, err := template.New(path.Base(p)).Funcs(s.funcs()).ParseFS(assets, "templates/layout.html", "templates/partials/*.html", p)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", p, err)
		}
		s.pages[strings.TrimSuffix(path.Base(p), ".html")] = t
	}
	return s, nil
}

// Routes mounts the console on e under Prefix. The console calls the API
// through e itself, in-process.
func (s *Console) Routes(e *echo.Echo) {
	s.api = e
	g := httpx.NewGroup(e, Prefix, s.headers)
	e.GET(Prefix, func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, Prefix+"/") }, s.headers)
	g.GET("/static/:name", s.asset)
	g.GET("/", s.home)
	g.POST("/sign-in", s.signIn)
	g.POST("/sign-out", s.signOut)

	g.GET("/events", s.page(s.events))
	g.GET("/events/stream", s.page(s.stream))
	g.GET("/events/:id", s.page(s.eventDetail))
	g.POST("/events/:id/test", s.page(s.eventTest))

	g.GET("/rules", s.page(s.rules))
	g.GET("/rules/new", s.page(s.ruleNew))
	g.POST("/rules", s.page(s.ruleCreate))
	g.GET("/rules/:id", s.page(s.ruleDetail))
	g.POST("/rules/:id", s.page(s.ruleUpdate))
	g.POST("/rules/:id/enabled", s.page(s.ruleEnable))
	g.POST("/rules/:id/test", s.page(s.ruleTest))
	g.POST("/rules/:id/backtest", s.page(s.ruleBacktest))
	g.POST("/rules/:id/rollback", s.page(s.ruleRollback))
	g.POST("/rules/:id/delete", s.page(s.ruleDelete))

	g.GET("/channels", s.page(s.channels))
	g.GET("/channels/new", s.page(s.channelNew))
	g.POST("/channels", s.page(s.channelCreate))
	g.GET("/channels/:id", s.page(s.channelDetail))
	g.POST("/channels/:id", s.page(s.channelUpdate))
	g.POST("/channels/:id/test", s.page(s.channelTest))
	g.POST("/channels/:id/delete", s.page(s.channelDelete))

	g.GET("/deliveries", s.page(s.deliveries))
	g.POST("/deliveries/retry-all", s.page(s.deliveriesRetryAll))
	g.POST("/deliveries/:id/retry", s.page(s.deliveryRetry))
	g.GET("/dlq", s.page(s.dlq))
	g.POST("/dlq/retry-all", s.page(s.dlqRetryAll))
	g.POST("/dlq/:id/retry", s.page(s.dlqRetry))
	g.POST("/dlq/:id/discard", s.page(s.dlqDiscard))

	g.GET("/keys", s.page(s.keys))
	g.POST("/keys", s.page(s.keyCreate))
	g.POST("/keys/:id/revoke", s.page(s.keyRevoke))
	g.GET("/users", s.page(s.users))
	g.POST("/users", s.page(s.userCreate))
	g.POST("/users/:id/role", s.page(s.userRole))
	g.POST("/users/:id/remove", s.page(s.userRemove))

	g.GET("/*", s.page(func(r *request) error { return r.notFound() }))
}

// csp allows the console's own script and stylesheet and nothing inline;
// no other origin, no framing, forms only to the console itself.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every console response.
func (s *Console) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(c.Path(), Prefix+"/static/") {
			h.Set("Cache-Control", "no-store") // pages hold tenant data
		}
		return next(c)
	}
}

func (s *Console) asset(c echo.Context) error {
	f, ok := s.static[c.Param("name")]
	if !ok {
		return echo.ErrNotFound
	}
	if c.QueryParam("v") == f.version {
		c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Response().Header().Set("Cache-Control", "no-cache")
	}
	return c.Blob(http.StatusOK, f.contentType, f.body)
}

// staticURL is an asset's URL with its content hash, so a new build's
// assets are never taken from a stale cache.
func (s *Console) staticURL(name string) string {
	return Prefix + "/static/" + name + "?v=" + s.static[name].version
}

// view is what every page template gets.
type view struct {
	Title    string
	Active   string // nav section
	Me       *me
	CSRF     string
	Flash    string
	Error    string
	P        any // the page's own data
	CanWrite bool
	IsAdmin  bool
	IsOwner  bool
}

func (s *Console) renderPage(c echo.Context, status int, name string, v view) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("console: no template %q", name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	return c.HTMLBlob(status, []byte(b.String()))
}

// errorPage renders a problem as a page. 5xx details stay out of it.
func (s *Console) errorPage(c echo.Context, v view, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.logger.ErrorContext(c.Request().Context(), "console page failed", slog.Any("error", err))
		ae = &apiError{Status: http.StatusInternalServerError, RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	}
	p := struct {
		Status    int
		Heading   string
		Message   string
		RequestID string
	}{Status: ae.Status, RequestID: ae.RequestID}
	switch {
	case ae.Status == http.StatusNotFound:
		p.Heading, p.Message = "Not found", "There is nothing here, or it belongs to another tenant."
	case ae.Status == http.StatusForbidden:
		p.Heading, p.Message = "Not allowed", "Your role does not allow this. "+ae.Detail
	case ae.Status == http.StatusTooManyRequests:
		p.Heading = "Too many requests"
		p.Message = "The API's rate limit for your tenant was reached. Try again in " + strconv.Itoa(max(ae.RetryAfter, 1)) + " s."
		c.Response().Header().Set("Retry-After", strconv.Itoa(max(ae.RetryAfter, 1)))
	case ae.Status < 500:
		p.Heading, p.Message = "Request refused", ae.Detail
	case ae.Status == http.StatusServiceUnavailable:
		p.Heading, p.Message = "Temporarily unavailable", "The database cannot be reached right now; try again shortly."
	default:
		p.Heading, p.Message = "Something went wrong", "The console could not complete this request."
	}
	v.Title, v.P = p.Heading, p
	return s.renderPage(c, ae.Status, "error", v)
}
