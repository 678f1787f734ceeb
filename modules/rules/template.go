package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
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

// Rewriting. Every field access (.payload.orderId, $x.a, (pipe).b) becomes
// a call to _get, which never fails: an absent key, or a key on something
// that is not an object, gives a missing value (nil), and JSON null gives
// null (a typed nil that prints "null"). Every action that prints gets a
// final "| _show <its text>" that prints a missing value as a marker naming
// the action. Every range body starts with {{_tick}}, which counts
// iterations against the budget.

func rewriteList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			name := truncate(n.Pipe.String(), 100)
			rewritePipe(n.Pipe)
			if len(n.Pipe.Decl) == 0 {
				n.Pipe.Cmds = append(n.Pipe.Cmds, command(n.Pos, identifier("_show", n.Pos), stringNode(name, n.Pos)))
			}
		case *parse.IfNode:
			rewriteBranch(&n.BranchNode)
		case *parse.WithNode:
			rewriteBranch(&n.BranchNode)
		case *parse.RangeNode:
			rewriteBranch(&n.BranchNode)
			n.Pipe.Cmds = append(n.Pipe.Cmds, command(n.Pos, identifier("_iter", n.Pos)))
			tick := &parse.ActionNode{NodeType: parse.NodeAction, Pos: n.Pos, Line: n.Line,
				Pipe: pipe(n.Pos, command(n.Pos, identifier("_tick", n.Pos)))}
			if n.List == nil {
				n.List = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Pos}
			}
			n.List.Nodes = append([]parse.Node{tick}, n.List.Nodes...)
		}
	}
}

func rewriteBranch(b *parse.BranchNode) {
	rewritePipe(b.Pipe)
	rewriteList(b.List)
	rewriteList(b.ElseList)
}

func rewritePipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, c := range p.Cmds {
		for i, arg := range c.Args {
			c.Args[i] = rewriteArg(arg)
		}
	}
}

func rewriteArg(n parse.Node) parse.Node {
	switch n := n.(type) {
	case *parse.FieldNode:
		return getCall(n.Pos, &parse.DotNode{NodeType: parse.NodeDot, Pos: n.Pos}, n.Ident)
	case *parse.VariableNode:
		if len(n.Ident) > 1 {
			v := &parse.VariableNode{NodeType: parse.NodeVariable, Pos: n.Pos, Ident: n.Ident[:1]}
			return getCall(n.Pos, v, n.Ident[1:])
		}
	case *parse.ChainNode:
		return getCall(n.Pos, rewriteArg(n.Node), n.Field)
	case *parse.PipeNode:
		rewritePipe(n)
	}
	return n
}

// getCall builds (_get recv "k1" "k2" …).
func getCall(pos parse.Pos, recv parse.Node, keys []string) *parse.PipeNode {
	args := []parse.Node{identifier("_get", pos), recv}
	for _, k := range keys {
		args = append(args, stringNode(k, pos))
	}
	return pipe(pos, command(pos, args...))
}

func pipe(pos parse.Pos, cmds ...*parse.CommandNode) *parse.PipeNode {
	return &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: cmds}
}

func command(pos parse.Pos, args ...parse.Node) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: args}
}

func identifier(name string, pos parse.Pos) *parse.IdentifierNode {
	return parse.NewIdentifier(name).SetPos(pos)
}

func stringNode(s string, pos parse.Pos) *parse.StringNode {
	return &parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(s), Text: s}
}

// null is a JSON null in templates: falsy, empty in range, printed "null".
// A plain nil stands for a missing value.
type null []struct{}

func (null) String() string { return "null" }

// MarshalJSON writes null.
func (null) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

var jsonNull = null(nil)

// missing prints a missing value passed to print, printf or println.
type missing struct{}

func (missing) String() string { return "<missing>" }

func markMissing(args []any) []any {
	for i, a := range args {
		if a == nil {
			args[i] = missing{}
		}
	}
	return args
}

// tmplGet walks keys from recv. It returns nil when a key is absent or a
// value on the way is not an object, and jsonNull for a JSON null.
func tmplGet(recv any, keys ...string) any {
	v := recv
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[k]; !ok {
			return nil
		}
	}
	if v == nil {
		return jsonNull
	}
	return v
}

// tmplIndex is index for JSON data: string keys into objects, integer
// indexes into arrays. An absent key or an index out of range is missing
// (nil), not an error.
func tmplIndex(item any, keys ...any) (any, error) {
	v := item
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("index of an object must be a string, not %s", kindName(k))
			}
			if v, ok = x[key]; !ok {
				return nil, nil
			}
		case []any:
			i, ok := indexOf(k)
			if !ok {
				return nil, fmt.Errorf("index of an array must be an integer, not %s", kindName(k))
			}
			if i < 0 || i >= int64(len(x)) {
				return nil, nil
			}
			v = x[i]
		case nil, null:
			return nil, nil
		default:
			return nil, fmt.Errorf("can't index %s", kindName(v))
		}
	}
	if v == nil {
		return jsonNull, nil
	}
	return v, nil
}

func indexOf(k any) (int64, bool) {
	if n, ok := k.(json.Number); ok {
		d, ok := parseDec(string(n))
		if !ok {
			return 0, false
		}
		return d.int64()
	}
	return intOf(k)
}

// text is how a value prints: strings and numbers as they are, objects and
// arrays as compact JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case null:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case map[string]any, []any:
		return compactJSON(x)
	}
	return fmt.Sprint(v)
}

func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// argText joins arguments the way the html, js and urlquery builtins do.
func argText(args []any) string {
	if len(args) == 1 {
		if s, ok := args[0].(string); ok {
			return s
		}
	}
	return fmt.Sprint(args...)
}

func tmplEq(a any, bs ...any) (bool, error) {
	if len(bs) == 0 {
		return false, errors.New("missing argument for comparison")
	}
	for _, b := range bs {
		if equalValues(a, b) {
			return true, nil
		}
	}
	return false, nil
}

func tmplNe(a, b any) (bool, error) { return !equalValues(a, b), nil }

// equalValues compares template values: numbers by value (json.Number from
// the payload against template literals), text with text, bools with
// bools. Missing, null and the literal nil equal each other and nothing
// else; values of different kinds are unequal rather than an error.
func equalValues(a, b any) bool {
	if isNothing(a) || isNothing(b) {
		return isNothing(a) && isNothing(b)
	}
	if da, ok := numericOf(a); ok {
		if db, ok := numericOf(b); ok {
			return cmpDec(&da, &db) == 0
		}
	}
	if sa, ok := textOf(a); ok {
		sb, ok := textOf(b)
		return ok && sa == sb
	}
	if ba, ok := a.(bool); ok {
		bb, ok := b.(bool)
		return ok && ba == bb
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && safeEqual(a, b)
}

func safeEqual(a, b any) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// tmplOrder is lt/le/gt/ge: numbers by value, text byte-wise. A missing or
// null operand makes the comparison false; other mixed kinds are an error.
func tmplOrder(a, b any, op opcode) (bool, error) {
	if isNothing(a) || isNothing(b) {
		return false, nil
	}
	if da, ok := numericOf(a); ok {
		if db, ok := numericOf(b); ok {
			return op.holds(cmpDec(&da, &db)), nil
		}
	}
	if sa, ok := textOf(a); ok {
		if sb, ok := textOf(b); ok {
			return op.holds(strings.Compare(sa, sb)), nil
		}
	}
	return false, fmt.Errorf("can't compare %s with %s", kindName(a), kindName(b))
}

// numericOf reads payload numbers and template number literals as exact
// decimals. Strings are not numbers, even when they look like one.
func numericOf(v any) (dec, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dec{}, false
		}
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case uint, uint64, uintptr:
		s = fmt.Sprint(x)
	default:
		i, ok := intOf(v)
		if !ok {
			return dec{}, false
		}
		s = strconv.FormatInt(i, 10)
	}
	return parseDec(s)
}

func isNothing(v any) bool {
	_, isNull := v.(null)
	return v == nil || isNull
}

func textOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	}
	return "", false
}

func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "a missing value"
	case null:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if _, ok := numericOf(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}
