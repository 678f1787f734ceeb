package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
)

// The browser tests drive the console in Debian's chromium, headless, and
// find every element by its role and accessible name (the accessibility
// tree Chrome computes, as a screen reader gets it), never by CSS classes
// or ids. Without chromium they skip, except in CI (CI or
// SIGNALOPS_BROWSER_TESTS=required), where they fail. SIGNALOPS_SCREENSHOTS=1
// writes docs/console-overview.png and docs/console-event.png.

// chromium finds the browser binary.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("SIGNALOPS_BROWSER_TESTS") == "required" {
		t.Fatal("the browser tests need chromium (apt-get install -y chromium); .ci/run installs it")
	}
	t.Skip("browser tests skipped: no chromium on PATH (apt-get install -y chromium to run them)")
	return ""
}

// tab is one browser tab and the console's address.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// byRole selects the first element, in document order, whose computed
// role and accessible name are role and name.
func byRole(role, name string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		ids, err := axQuery(ctx, t, n.NodeID, role, name)
		if len(ids) > 1 {
			ids = ids[:1]
		}
		return ids, err
	})
}

func axQuery(ctx context.Context, t *chromedp.Target, root cdp.NodeID, role, name string) ([]cdp.NodeID, error) {
	res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{NodeID: root, Role: role, AccessibleName: name})
	if err != nil {
		return nil, err
	}
	var ids []cdp.BackendNodeID
	for _, x := range res.Nodes {
		if !x.Ignored && x.BackendDOMNodeID != 0 {
			ids = append(ids, x.BackendDOMNodeID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := cdp.Call(ctx, t, dom.PushNodesByBackendIDsToFrontend, dom.PushNodesByBackendIDsToFrontendParams{BackendNodeIDs: ids})
	return out.NodeIDs, err
}

func (p *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	if err != nil {
		p.failed(what)
	}
	require.NoError(p.t, err, what)
}

// failed leaves a screenshot of the page a step failed on.
func (p *tab) failed(what string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return
	}
	name := filepath.Join(os.TempDir(), "console-failed-"+regexp.MustCompile(`\W+`).ReplaceAllString(what, "-")+".png")
	if os.WriteFile(name, png, 0o600) == nil {
		p.t.Logf("the page when %q failed: %s", what, name)
	}
}

// open loads a console path and returns the HTTP status of the page.
func (p *tab) open(path string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.base+path))
	require.NoError(p.t, err, path)
	return resp.Status
}

func (p *tab) click(role, name string) {
	p.t.Helper()
	p.do("click "+role+" "+name, chromedp.Click("", byRole(role, name), chromedp.NodeVisible))
}

// fill replaces the value of the field labelled name.
func (p *tab) fill(role, name, value string) {
	p.t.Helper()
	p.do("fill "+name, chromedp.SetValue("", value, byRole(role, name)))
}

func (p *tab) see(role, name string) {
	p.t.Helper()
	p.do("see "+role+" "+name, chromedp.WaitVisible("", byRole(role, name)))
}

func (p *tab) value(role, name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value("", byRole(role, name)))
	require.NoError(p.t, err, name)
	return v
}

// count is how many elements have this role and name now (no waiting).
// It reads the whole accessibility tree: DOM.getDocument would reset the
// node ids chromedp holds.
func (p *tab) count(role, name string) int {
	p.t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Action[int](func(ctx context.Context, t *chromedp.Target) (int, error) {
		tree, err := cdp.Call(ctx, t, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		if err != nil {
			return 0, err
		}
		n := 0
		for _, x := range tree.Nodes {
			if !x.Ignored && axString(x.Role) == role && axString(x.Name) == name {
				n++
			}
		}
		return n, nil
	}))
	require.NoError(p.t, err)
	return n
}

func axString(v *accessibility.Value) string {
	if v == nil {
		return ""
	}
	var s string
	_ = json.Unmarshal(v.Value, &s)
	return s
}

// waitText waits up to 20 s for an element with this role whose text
// contains want, and returns its text.
func (p *tab) waitText(role, want string) string {
	p.t.Helper()
	var got string
	require.Eventually(p.t, func() bool {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		defer cancel()
		nodes, err := chromedp.Run(ctx, chromedp.Nodes("", byRoleAll(role)))
		if err != nil {
			return false
		}
		for _, n := range nodes {
			text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.NodeIDs{n.NodeID}))
			if err == nil && strings.Contains(text, want) {
				got = text
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "no %s with text %q", role, want)
	return got
}

// byRoleAll selects every element with this role.
func byRoleAll(role string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		return axQuery(ctx, t, n.NodeID, role, "")
	})
}

func (p *tab) screenshot(name string) {
	p.t.Helper()
	if os.Getenv("SIGNALOPS_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	require.NoError(p.t, err)
	require.NoError(p.t, os.WriteFile(filepath.Join("..", "docs", name), png, 0o644))
}

// fitsWidth reports that the page needs no horizontal scrolling.
func (p *tab) fitsWidth() bool {
	p.t.Helper()
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	require.NoError(p.t, err)
	return ok
}

func (p *tab) signIn(email string) {
	p.t.Helper()
	require.EqualValues(p.t, http.StatusOK, p.open("/console/"))
	p.see("heading", "Sign in to SignalOps")
	// Keyboard only: the Email field has the focus.
	p.do("sign in by keyboard", chromedp.KeyEvent(email), chromedp.KeyEvent("\t"), chromedp.KeyEvent(authtest.Password), chromedp.KeyEvent("\r"))
	p.see("heading", "Overview")
}

// newWebhookChannel fills in and sends the webhook channel form.
func (p *tab) newWebhookChannel(name, url string) {
	p.click("link", "Channels")
	p.click("link", "New channel")
	p.click("link", "Webhook")
	p.fill("textbox", "Name", name)
	p.fill("textbox", "URL", url)
	p.click("button", "Create channel")
}

// newRule opens the rule form and names the rule.
func (p *tab) newRule(name string) {
	p.click("link", "Rules")
	p.click("link", "New rule")
	p.fill("textbox", "Name", name)
}

func (p *tab) signOut() {
	p.t.Helper()
	p.click("button", "Sign out")
	p.see("heading", "Sign in to SignalOps")
}

// consoleHooks answers webhooks: 204, or 400 (a permanent failure) for a
// body containing "fail-me" until healed.
type consoleHooks struct {
	healed atomic.Bool
	calls  atomic.Int32
}

func (h *consoleHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	if strings.Contains(string(body), "fail-me") && !h.healed.Load() {
		http.Error(w, "rejected", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	ctx := t.Context()

	sys, url := wireTest(t, nil, func(cfg *config.Config) {
		cfg.AdminToken = authtest.Options.AdminToken
		// Two transient failures in a row open a channel's circuit; the probe
		// comes long after the test ends, so an open circuit stays open.
		cfg.Notify.Breaker = config.Breaker{Failures: 2, Probe: time.Hour, ProbeMax: time.Hour}
	})
	pool := sys.db
	startWorker(t, sys, url)
	srv := httptest.NewServer(sys.router())
	t.Cleanup(srv.Close)
	hooks := &consoleHooks{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(flaky.Close)
	// Pro: a test clicks faster than a person; the management rate limit
	// of the free plan (10/s) would slow it down.
	a := authtest.CreateTenant(ctx, t, pool, &authtest.TenantOpts{Plan: new("pro")})
	b := authtest.CreateTenant(ctx, t, pool, &authtest.TenantOpts{Plan: new("pro")})
	_, viewer := authtest.CreateUser(ctx, t, pool, a, auth.RoleViewer)

	channelNamed := func(name string) (id string) {
		require.NoError(t, pool.Get(&id, `SELECT id FROM channels WHERE tenant_id = $1 AND name = $2`, a.ID, name))
		return id
	}
	ingest := func(key, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/events", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f-]{27}`).FindString(string(b))
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser() })
	testCtx, cancelTest := context.WithTimeout(browserCtx, 6*time.Minute)
	t.Cleanup(cancelTest)
	p := &tab{t: t, ctx: testCtx, base: srv.URL}
	// The first action starts the browser and opens the tab: on the tab's
	// own context, which the later per-step timeouts derive from.
	require.NoError(t, chromedp.Do(testCtx, chromedp.EmulateViewport(1280, 800)))

	p.signIn(a.OwnerEmail)
	// The keyboard's first stop is the skip link; it moves the focus to
	// the page's content, past the navigation.
	p.do("tab", chromedp.KeyEvent("\t"))
	focused, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.activeElement.textContent`))
	require.NoError(t, err)
	require.Equal(t, "Skip to content", focused)
	p.do("enter", chromedp.KeyEvent("\r"))
	require.Eventually(t, func() bool {
		id, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.activeElement.id`))
		return err == nil && id == "main"
	}, 5*time.Second, 50*time.Millisecond, "the skip link does not reach the content")

	// A webhook channel, with its generated secret shown once.
	p.newWebhookChannel("local receiver", hookSrv.URL+"/hook")
	p.see("heading", "Channel local receiver created")
	require.True(t, strings.HasPrefix(p.value("textbox", "Signing secret"), "whsec_"))
	p.click("button", "Copy signing secret")
	p.waitText("status", "Cop") // "Copied." or the fallback's advice
	p.click("link", "Continue to the channel")
	p.see("heading", "Channel local receiver")

	// A rule through the quick form.
	p.newRule("big orders")
	p.fill("textbox", "Event type", "order.*")
	p.fill("textbox", "Message", "Order {{.payload.orderId}}: {{.payload.amount}}")
	p.click("button", "Create rule")
	p.see("heading", "Rule big orders")
	p.waitText("status", "created (version 1)")

	// Dry run.
	p.fill("textbox", "Sample event (JSON)", `{"type":"order.created","payload":{"orderId":"T-1","amount":5}}`)
	p.click("button", "Run dry run")
	p.waitText("status", "Order T-1: 5")
	p.fill("textbox", "Sample event (JSON)", `{"type":"invoice.paid","payload":{}}`)
	p.click("button", "Run dry run")
	p.waitText("status", "Not matched.")

	// A rule written as JSON, with a threshold: an order matches it but
	// does not fire it alone (the event's lineage says why).
	localID := channelNamed("local receiver")
	p.newRule("big spender")
	p.click("DisclosureTriangle", "Or write the whole definition as JSON (conditions, thresholds, cooldown, several actions)")
	p.fill("textbox", "Definition (JSON)", `{"match":{"type":"order.*","all":[{"field":"payload.amount","op":"gte","value":1000}]},`+
		`"threshold":{"count":3,"within":"1h","groupBy":"payload.customer"},`+
		`"actions":[{"channelId":"`+localID+`","template":"{{.payload.customer}} spent big three times"}]}`)
	p.click("button", "Create rule")
	p.see("heading", "Rule big spender")

	// An event appears in the live tail; its detail shows the delivery.
	p.click("link", "Events")
	p.waitText("status", "Live: waiting for new events.")
	code, eventID := ingest(a.APIKey, `{"type":"order.created","source":"shop","payload":{"orderId":"A-1","amount":1250,"customer":"c-42"}}`)
	require.Equal(t, http.StatusAccepted, code)
	p.see("link", "Event "+eventID)
	p.waitText("status", "Live: 1 new event since this page opened.")
	p.click("link", "Event "+eventID)
	p.see("heading", "Event order.created")
	require.Eventually(t, func() bool {
		p.open("/console/events/" + eventID)
		return p.count("heading", "To local receiver: succeeded") == 1
	}, 20*time.Second, 300*time.Millisecond, "the delivery never succeeded")
	require.Equal(t, 2, p.count("link", "big orders"), "the match and the delivery name their rule")
	// Lineage: each match says whether it fired, and why not.
	require.Contains(t, p.waitText("row", "big orders"), "fired")
	require.Contains(t, p.waitText("row", "big spender"), "not fired: threshold 1 of 3 within 1h")
	p.waitText("table", "204")
	var bigOrders string
	require.NoError(t, pool.Get(&bigOrders, `SELECT id FROM rules WHERE tenant_id = $1 AND name = 'big orders'`, a.ID))
	p.do("pick the rule", chromedp.SetValue("", bigOrders, byRole("combobox", "Rule")))
	p.click("button", "Test this event against the rule")
	p.waitText("status", "Order A-1: 1250")
	p.screenshot("console-event.png")

	// Permanent failures land in the DLQ. The receiver heals; one delivery
	// is retried from its event's page, one from its DLQ entry, the rest
	// with "retry all matching" under a filter (one bulk API call).
	var failing []string
	for i := range 4 {
		code, id := ingest(a.APIKey, fmt.Sprintf(`{"type":"order.created","payload":{"orderId":"fail-me-%d","amount":1}}`, i))
		require.Equal(t, http.StatusAccepted, code)
		failing = append(failing, id)
	}
	deadJobs := func() (n int) {
		require.NoError(t, pool.Get(&n, `SELECT count(*) FROM river_job WHERE kind = 'notify.deliver' AND state IN ('discarded', 'cancelled')`))
		return n
	}
	require.Eventually(t, func() bool { return deadJobs() == len(failing) }, 20*time.Second, 100*time.Millisecond)
	hooks.healed.Store(true)
	delivered := func(event string) {
		t.Helper()
		require.Eventually(t, func() bool {
			p.open("/console/events/" + event)
			return p.count("heading", "To local receiver: succeeded") == 1
		}, 20*time.Second, 300*time.Millisecond, "the retried delivery of %s never succeeded", event)
	}

	p.open("/console/events/" + failing[0])
	p.see("heading", "To local receiver: failed")
	require.Contains(t, p.waitText("row", "failed"), "400", "the attempt shows the receiver's status code")
	p.click("button", "Retry delivery")
	p.waitText("status", "The delivery is queued to be sent again.")
	delivered(failing[0])

	var entry int64
	var entryEvent string
	require.NoError(t, pool.QueryRow(`SELECT j.id, d.event_id FROM river_job j JOIN deliveries d ON d.id = (j.args->>'delivery_id')::uuid
		WHERE j.kind = 'notify.deliver' AND j.state IN ('discarded', 'cancelled') ORDER BY j.id LIMIT 1`).Scan(&entry, &entryEvent))
	p.click("link", "Dead letters")
	p.see("heading", "Dead-letter queue")
	p.click("button", fmt.Sprintf("Retry entry %d", entry))
	p.waitText("status", fmt.Sprintf("Entry %d is queued to run again.", entry))
	delivered(entryEvent)

	// The filter narrows the list, and "retry all matching" takes it.
	p.click("link", "Dead letters")
	p.do("filter by channel", chromedp.SetValue("", localID, byRole("combobox", "Channel")))
	p.do("filter by kind", chromedp.SetValue("", "notify.deliver", byRole("combobox", "Kind")))
	p.click("button", "Filter")
	p.see("button", "Retry all matching entries")
	require.Equal(t, 2, p.count("link", "local receiver"), "the two entries left, each naming its channel")
	p.click("button", "Retry all matching entries")
	p.waitText("status", "2 entries are queued to run again.")
	for _, id := range failing {
		delivered(id)
	}
	require.Zero(t, deadJobs())
	p.click("link", "Dead letters")
	p.waitText("main", "The dead-letter queue is empty.")

	// A receiver that keeps failing opens its channel's circuit; the
	// channels page, the channel's page and the overview show it.
	p.newWebhookChannel("flaky receiver", flaky.URL+"/hook")
	p.click("link", "Continue to the channel")
	flakyID := channelNamed("flaky receiver")
	p.newRule("stock alerts")
	p.fill("textbox", "Event type", "stock.low")
	p.do("pick channel", chromedp.SetValue("", flakyID, byRole("combobox", "Channel")))
	p.fill("textbox", "Message", "Low stock: {{.payload.sku}}")
	p.click("button", "Create rule")
	p.see("heading", "Rule stock alerts")
	code, _ = ingest(a.APIKey, `{"type":"stock.low","payload":{"sku":"SKU-7"}}`)
	require.Equal(t, http.StatusAccepted, code)
	require.Eventually(t, func() bool {
		var state string
		return pool.Get(&state, `SELECT state FROM channel_flow WHERE channel_id = $1`, flakyID) == nil && state == "open"
	}, 20*time.Second, 100*time.Millisecond, "the circuit never opened")
	p.click("link", "Channels")
	row := p.waitText("row", "flaky receiver")
	require.Contains(t, row, "failing (circuit open)")
	require.Contains(t, row, "503")
	p.click("link", "flaky receiver")
	health := p.waitText("region", "Consecutive failures")
	for _, want := range []string{"failing (circuit open)", "Consecutive failures2", "Next probe", "503"} {
		require.Contains(t, health, want)
	}

	// The overview at 1280×800, with this month's events in the chart.
	p.click("link", "Overview")
	p.see("heading", "Overview")
	chart := "Events per day, " + time.Now().UTC().Format("2006-01")
	// ARIA 1.3 calls the img role "image"; Chrome reports either.
	require.Equal(t, 1, p.count("img", chart)+p.count("image", chart), "the chart is an image with its title as name")
	p.waitText("heading", "Delivery success")
	require.Contains(t, p.waitText("region", "Open circuits"), "flaky receiver: failing (circuit open), 2 failures in a row")
	p.screenshot("console-overview.png")

	// An API key: shown once, works, then revoked.
	p.click("link", "API keys")
	p.fill("textbox", "Label", "ci")
	p.click("button", "Create key")
	key := p.value("textbox", "New API key")
	require.True(t, strings.HasPrefix(key, "so_live_"), key)
	code, _ = ingest(key, `{"type":"ping","payload":{}}`)
	require.Equal(t, http.StatusAccepted, code)
	p.click("button", "Revoke key ci")
	p.waitText("status", "Key revoked")
	require.Eventually(t, func() bool {
		code, _ := ingest(key, `{"type":"ping","payload":{}}`)
		return code == http.StatusUnauthorized
	}, 10*time.Second, 200*time.Millisecond, "the revoked key still works")
	require.Equal(t, 0, p.count("textbox", "New API key"), "the key is not shown again")

	// Phone width: the pages fit without horizontal scrolling.
	p.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, path := range []string{"/console/", "/console/events", "/console/events/" + eventID, "/console/rules",
		"/console/rules/" + bigOrders, "/console/channels/" + flakyID, "/console/channels", "/console/deliveries", "/console/dlq", "/console/keys", "/console/users"} {
		p.open(path)
		require.True(t, p.fitsWidth(), "%s scrolls sideways at 390 px", path)
	}
	p.do("desktop", chromedp.EmulateViewport(1280, 800))
	p.open("/console/")
	p.signOut()

	// A viewer reads, and is offered nothing to change.
	p.signIn(viewer)
	require.Equal(t, 0, p.count("link", "API keys"))
	p.click("link", "Rules")
	require.Equal(t, 0, p.count("link", "New rule"))
	p.click("link", "big orders")
	p.see("heading", "Rule big orders")
	for _, button := range []string{"Save as a new version", "Run dry run", "Disable rule", "Delete rule", "Run backtest"} {
		require.Equal(t, 0, p.count("button", button), button)
	}
	p.open("/console/events/" + failing[0])
	p.see("heading", "To local receiver: succeeded")
	require.Equal(t, 0, p.count("button", "Retry delivery"))
	require.EqualValues(t, http.StatusForbidden, p.open("/console/keys"))
	p.see("heading", "Not allowed")
	p.open("/console/")
	p.signOut()

	// Another tenant's URL is not found, and shows nothing of it. That
	// tenant has nothing yet: its overview walks it to a first
	// notification, at phone width too.
	p.signIn(b.OwnerEmail)
	p.see("heading", "Get started: your first notification")
	p.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.open("/console/")
	require.True(t, p.fitsWidth(), "the getting-started overview scrolls sideways at 390 px")
	p.do("desktop", chromedp.EmulateViewport(1280, 800))
	p.click("link", "Create a channel")
	p.see("heading", "New channel")
	require.EqualValues(t, http.StatusNotFound, p.open("/console/events/"+eventID))
	p.see("heading", "Not found")
	require.Equal(t, 0, p.count("heading", "Event order.created"))
}
