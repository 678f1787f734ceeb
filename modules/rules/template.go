package rules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MaxMessageBytes caps a rendered message; longer output is cut and ends
// with "…". The budget of rendering is in tmplbudget.go.
const MaxMessageBytes = 4096

// Rendered is one action's message for one event.
type Rendered struct {
	ChannelID uuid.UUID `json:"channelId"`
	Message   string    `json:"message"`
	// Error says why the action cannot be sent: its template ran out of
	// budget or time for this event, or was refused when loaded. Message
	// is empty then, and the worker fails the action's delivery at once.
	Error string `json:"error,omitempty"`
}

// Render executes every action's template over ev and returns one message
// per action, in order. Templates are Go text/template, executed over
//
//	{"type": ev.Type, "source": ev.Source (or ""),
//	 "occurredAt": RFC 3339 string, "payload": ev.Payload}
//
// Rendering never fails and never panics:
//
//   - A missing key prints a marker naming what was asked for:
//     "Order {{.payload.orderId}}" renders "Order <missing: .payload.orderId>".
//     Missing keys are falsy in if/with and empty in range, so
//     {{if .payload.vip}} works whether or not vip is sent. JSON null
//     prints as null. Objects and arrays print as compact JSON.
//   - Numbers print exactly as the producer sent them (json.Number).
//   - Functions: the text/template builtins, with eq, ne, lt, le, gt and ge
//     comparing payload numbers by value ({{if gt .payload.amount 1000}}):
//     values of different kinds are unequal instead of an error, missing
//     and null equal nil and nothing else, and lt/le/gt/ge with a missing
//     or null side are false. index returns a missing value for an absent
//     key or an out-of-range index; print, printf and println show a
//     missing argument as <missing>. Added: json (compact JSON of a value),
//     upper and lower. Keys that are not identifiers need index:
//     {{index .payload "order-id"}}.
//   - define, block and template are not accepted (no recursion); printf
//     takes its format from the template only; range runs at most 10,000
//     iterations per message, and every function charges what it will
//     produce or touch before it runs, so a message costs bounded time and
//     memory whatever the payload (tmplbudget.go).
//   - Output is capped at 4096 bytes, cut on a UTF-8 boundary and ended
//     with "…". An execution error (a bad index type, comparing a string
//     with a number) keeps the output so far and appends "<error: …>".
//
// Rendering is bounded by a budget charged before the work is done
// (tmplbudget.go) and by ctx: an action that exceeds either gets Error and
// no message.
func (c *Compiled) Render(ctx context.Context, ev *Subject) []Rendered {
	data := templateData(ev)
	out := make([]Rendered, len(c.actions))
	for i, a := range c.actions {
		out[i] = Rendered{ChannelID: a.channelID}
		out[i].Message, out[i].Error = a.render(ctx.Done(), data)
	}
	return out
}

func templateData(ev *Subject) map[string]any {
	payload := ev.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	return map[string]any{
		"type":       ev.Type,
		"source":     ev.Source,
		"occurredAt": ev.OccurredAt.UTC().Format(time.RFC3339Nano),
		"payload":    payload,
	}
}

const templateName = "message"

// action is a compiled action. Its template tree is rewritten at compile
// time (see rewriteList) and shared, read-only, by pooled template
// instances, each with functions bound to its own per-render budget.
type action struct {
	channelID uuid.UUID
	tree      *parse.Tree
	pool      sync.Pool // *instance
	// rejected is why a stored template no longer compiles (a check added
	// after it was saved): it renders as an error, never runs.
	rejected string
}

type instance struct {
	tmpl *template.Template
	st   *renderState
}

func compileAction(a Action) (*action, string) {
	switch {
	case a.Template == "":
		return nil, "must not be empty"
	case len(a.Template) > MaxTemplateBytes:
		return nil, fmt.Sprintf("must be at most %d bytes", MaxTemplateBytes)
	}
	t, err := template.New(templateName).Funcs((&renderState{}).funcs()).Parse(a.Template)
	if err != nil {
		return nil, "invalid template: " + templateError(err)
	}
	if len(t.Templates()) != 1 || t.Tree == nil || hasTemplateCall(t.Tree.Root) {
		return nil, "invalid template: define, block and template are not supported"
	}
	if err := checkFormats(t.Tree.Root); err != nil {
		return nil, "invalid template: " + err.Error()
	}
	rewriteList(t.Tree.Root)
	act := &action{channelID: a.ChannelID, tree: t.Tree}
	inst, err := act.newInstance()
	if err != nil {
		return nil, "invalid template: " + templateError(err)
	}
	act.pool.Put(inst)
	return act, ""
}

// templateError strips text/template's prefix ("template: message:1: ")
// down to "line 1: …".
func templateError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	msg = strings.TrimPrefix(msg, templateName+":")
	if i := strings.IndexByte(msg, ':'); i > 0 {
		if _, convErr := strconv.Atoi(msg[:i]); convErr == nil {
			return "line " + msg[:i] + ":" + msg[i+1:]
		}
	}
	return msg
}

func hasTemplateCall(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, k := range n.Nodes {
			if hasTemplateCall(k) {
				return true
			}
		}
	case *parse.TemplateNode:
		return true
	case *parse.IfNode:
		return hasTemplateCall(n.List) || hasTemplateCall(n.ElseList)
	case *parse.RangeNode:
		return hasTemplateCall(n.List) || hasTemplateCall(n.ElseList)
	case *parse.WithNode:
		return hasTemplateCall(n.List) || hasTemplateCall(n.ElseList)
	}
	return false
}

func (a *action) newInstance() (*instance, error) {
	st := &renderState{}
	t, err := template.New(templateName).Option("missingkey=error").Funcs(st.funcs()).AddParseTree(templateName, a.tree)
	if err != nil {
		return nil, err
	}
	return &instance{tmpl: t, st: st}, nil
}

// render returns the message, or why the action cannot be sent: a budget
// or deadline error fails the whole action rather than sending part of it.
// Other execution errors keep the output so far and append "<error: …>".
func (a *action) render(done <-chan struct{}, data map[string]any) (msg, failed string) {
	if a.rejected != "" {
		return "", a.rejected
	}
	inst, ok := a.pool.Get().(*instance)
	if !ok {
		var err error
		if inst, err = a.newInstance(); err != nil {
			return "", "template: " + err.Error()
		}
	}
	defer a.pool.Put(inst)
	inst.st.reset(done)
	w := &capWriter{limit: MaxMessageBytes}
	err := execute(inst.tmpl, w, data)
	if be := (*budgetError)(nil); errors.As(err, &be) {
		return "", be.reason
	}
	out := string(w.buf)
	switch {
	case w.full:
		out = ellipsize(out, MaxMessageBytes)
	case err != nil:
		out += "<error: " + execReason(err) + ">"
	}
	return truncate(clean(out), MaxMessageBytes), ""
}

// clean makes a message valid UTF-8 without NUL bytes, which a template can
// produce ({{printf "%c" 0}}) and which PostgreSQL's text and jsonb refuse.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// execute runs the template, turning a panic (none is known) into an error
// so one bad template cannot take a worker down.
func execute(t *template.Template, w io.Writer, data any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("internal error")
		}
	}()
	return t.Execute(w, data)
}

// execReason shortens an execution error to what went wrong.
func execReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "executing \""+templateName+"\" at <"); i >= 0 {
		if j := strings.Index(msg[i:], ">: "); j >= 0 {
			msg = msg[i+j+3:]
		}
	}
	msg = strings.TrimPrefix(msg, "error calling ")
	return truncate(msg, 200)
}

var errOutputFull = errors.New("message is full")

// capWriter keeps at most limit bytes and then fails, which stops the
// template.
type capWriter struct {
	buf   []byte
	limit int
	full  bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	room := w.limit - len(w.buf)
	if len(p) > room {
		w.buf = append(w.buf, p[:room]...)
		w.full = true
		return room, errOutputFull
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// ellipsize cuts s to at most n bytes including a final "…", on a rune
// boundary.
func ellipsize(s string, n int) string {
	cut := min(len(s), n-len("…"))
	for cut > 0 && cut < len(s) && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
