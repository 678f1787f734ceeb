package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/signalops/signalops/platform/apperr"
)

// Budgets of the JSON Schemas a tenant gives its event types (SPEC §11).
// Validation runs in the request goroutine of every ingest, so what a
// schema may cost is bounded when it is saved and, against the payload's
// size, before each validation (docs/api.md, "Event types").
const (
	MaxSchemaBytes   = 64 << 10              // the schema's JSON text
	MaxSchemaDepth   = 64                    // its JSON nesting (a payload is ≤ 32 deep; a level of it takes two in a schema)
	MaxSchemaObjects = 1_000                 // JSON objects in it: bounds compiling (≈ 65 µs per subschema, mostly the meta-schema's check)
	MaxPatternBytes  = 256                   // a pattern (as rules' regex operator)
	MaxPatternInsts  = 200                   // its compiled RE2 program: Go's matcher is linear in the text times this
	MaxSchemaErrors  = 20                    // errors listed in one schema_violation
	MaxNumberChars   = 40                    // a number in a validated payload (exact comparison parses it as a big.Rat)
	MaxValidationEst = 50 * time.Millisecond // estimated cost of checking one payload (schemacost.go)
)

// schemaDraft is the only dialect accepted (SPEC §11: JSON Schema 2020-12).
const schemaDraft = "https://json-schema.org/draft/2020-12/schema"

// schemaURL names the one resource a compiler knows: the schema itself.
// Every other URL, remote or file, is refused by refuseLoader.
const schemaURL = "urn:signalops:event-type-schema"

// printer renders the validator's messages.
var printer = message.NewPrinter(language.English)

// refuseLoader loads nothing: a schema may refer only inside itself (the
// 2020-12 meta-schemas are built into the validator and never fetched).
type refuseLoader struct{}

func (refuseLoader) Load(u string) (any, error) {
	return nil, errors.New("only references inside this schema are allowed")
}

// boundedRegexp is a pattern compiled under the pattern budget; insts is
// the size of its program, which the cost estimate needs.
type boundedRegexp struct {
	*regexp.Regexp
	insts int
}

// compilePattern is the validator's regexp engine: Go's RE2 (linear time),
// with the pattern's length and program size capped, because a program of
// n instructions costs up to n steps per byte of text (`[a-z]{1,1000}x` took
// 2.8 s on a 256 KiB string here). It also checks "format": "regex" values.
func compilePattern(s string) (jsonschema.Regexp, error) {
	if len(s) > MaxPatternBytes {
		return nil, fmt.Errorf("pattern is %d bytes, more than %d", len(s), MaxPatternBytes)
	}
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return nil, err
	}
	// Compiling `x{1000}` alone takes milliseconds: estimate first.
	if regexSize(re) > 2*MaxPatternInsts {
		return nil, fmt.Errorf("pattern expands to more than %d instructions (bound its repetitions)", MaxPatternInsts)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	if len(prog.Inst) > MaxPatternInsts {
		return nil, fmt.Errorf("pattern compiles to %d instructions, more than %d (bound its repetitions)", len(prog.Inst), MaxPatternInsts)
	}
	compiled, err := regexp.Compile(s)
	if err != nil {
		return nil, err
	}
	return boundedRegexp{Regexp: compiled, insts: len(prog.Inst)}, nil
}

// regexSize estimates the program size of a parsed pattern without
// expanding its repetitions (saturating above the budget).
func regexSize(re *syntax.Regexp) int {
	const limit = 4 * MaxPatternInsts
	sum := 1
	for _, sub := range re.Sub {
		sum += regexSize(sub)
		if sum > limit {
			return limit
		}
	}
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) + 1
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		return min(limit, max(n, 1)*sum)
	}
	return sum
}

// compiledSchema is one version of an event type's schema, ready to check
// payloads, with what its validation may cost.
type compiledSchema struct {
	typ     string
	version int
	schema  *jsonschema.Schema
	cost    schemaCost
}

// schemaError is the 422 a schema that cannot be accepted gets; fields
// point into the request ("schema/properties/amount/type").
func schemaError(fields ...apperr.FieldError) error {
	return apperr.Invalid("invalid_event_type", "The event type's schema is not accepted.", fields...)
}

// compileSchema checks a schema against the budgets and compiles it. Every
// problem is a 422 invalid_event_type naming where in the schema it is.
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, schemaCost, error) {
	if len(raw) > MaxSchemaBytes {
		return nil, schemaCost{}, schemaError(apperr.FieldError{Field: "schema",
			Message: fmt.Sprintf("is %d bytes, more than %d", len(raw), MaxSchemaBytes)})
	}
	if scan(raw) > MaxSchemaDepth {
		return nil, schemaCost{}, schemaError(apperr.FieldError{Field: "schema",
			Message: fmt.Sprintf("nests deeper than %d levels", MaxSchemaDepth)})
	}
	if n := countObjects(raw); n > MaxSchemaObjects {
		return nil, schemaCost{}, schemaError(apperr.FieldError{Field: "schema",
			Message: fmt.Sprintf("holds %d JSON objects, more than %d", n, MaxSchemaObjects)})
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, schemaCost{}, schemaError(apperr.FieldError{Field: "schema", Message: "is not valid JSON"})
	}
	switch d := doc.(type) {
	case bool:
	case map[string]any:
		if s, ok := d["$schema"]; ok && s != schemaDraft && s != schemaDraft+"#" {
			return nil, schemaCost{}, schemaError(apperr.FieldError{Field: "schema/$schema",
				Message: "must be " + schemaDraft + " or absent: only JSON Schema 2020-12 is supported"})
		}
	default:
		return nil, schemaCost{}, schemaError(apperr.FieldError{Field: "schema", Message: "must be a JSON object or a boolean"})
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(refuseLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseRegexpEngine(compilePattern)
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, schemaCost{}, fmt.Errorf("add schema resource: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, schemaCost{}, compileProblem(err)
	}
	cost, err := estimate(sch)
	if err != nil {
		return nil, schemaCost{}, err
	}
	return sch, cost, nil
}

// compileProblem turns the compiler's error into field errors.
func compileProblem(err error) error {
	var (
		meta    *jsonschema.SchemaValidationError
		load    *jsonschema.LoadURLError
		missing *jsonschema.JSONPointerNotFoundError
		anchor  *jsonschema.AnchorNotFoundError
		regex   *jsonschema.InvalidRegexError
	)
	switch {
	case errors.As(err, &meta):
		var verr *jsonschema.ValidationError
		if !errors.As(meta.Err, &verr) {
			return schemaError(apperr.FieldError{Field: "schema", Message: "is not a valid JSON Schema 2020-12"})
		}
		return schemaError(leafErrors(verr, "schema")...)
	case errors.As(err, &load):
		return schemaError(apperr.FieldError{Field: "schema",
			Message: fmt.Sprintf("refers to %s: only references inside this schema (\"#…\") are allowed", load.URL)})
	case errors.As(err, &missing):
		return schemaError(apperr.FieldError{Field: "schema",
			Message: fmt.Sprintf("refers to %s, which is not in this schema", fragmentOf(missing.URL))})
	case errors.As(err, &anchor):
		return schemaError(apperr.FieldError{Field: "schema",
			Message: fmt.Sprintf("refers to anchor %s, which is not in this schema", anchor.Reference)})
	case errors.As(err, &regex):
		return schemaError(apperr.FieldError{Field: schemaField(regex.URL), Message: "invalid pattern: " + regex.Err.Error()})
	default:
		return schemaError(apperr.FieldError{Field: "schema", Message: truncate(err.Error(), 300)})
	}
}

// schemaField names a compiled schema's location as a request field:
// "schema" followed by its JSON pointer.
func schemaField(location string) string {
	base, frag, _ := strings.Cut(location, "#")
	if base != schemaURL {
		return "schema" // inside an embedded resource with its own $id: no pointer from the root
	}
	if ptr, err := url.PathUnescape(frag); err == nil {
		frag = ptr
	}
	return "schema" + frag
}

func fragmentOf(location string) string {
	_, frag, _ := strings.Cut(location, "#")
	if ptr, err := url.PathUnescape(frag); err == nil {
		frag = ptr
	}
	return "#" + frag
}

// leafErrors flattens a validation error tree into its leaves: the first
// message at each location, at most MaxSchemaErrors. field is the request
// member the locations are relative to ("schema"; "" for a payload, whose
// fields are plain JSON pointers).
func leafErrors(verr *jsonschema.ValidationError, field string) []apperr.FieldError {
	var out []apperr.FieldError
	seen := map[string]bool{}
	add := func(at, msg string) {
		if len(out) < MaxSchemaErrors && !seen[at] {
			seen[at] = true
			out = append(out, apperr.FieldError{Field: at, Message: truncate(msg, 300)})
		}
	}
	// base is set below a propertyNames failure, whose causes are located
	// relative to the member name they rejected.
	var walk func(e *jsonschema.ValidationError, base []string)
	walk = func(e *jsonschema.ValidationError, base []string) {
		loc := append(slices.Clip(base), e.InstanceLocation...)
		if k, ok := e.ErrorKind.(*kind.PropertyNames); ok {
			for _, c := range e.Causes {
				walk(c, append(slices.Clip(loc), k.Property))
			}
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c, base)
			}
			return
		}
		at := field + pointer(loc)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, name := range k.Missing {
				add(at+"/"+escapeToken(name), "is required")
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				add(at+"/"+escapeToken(name), "is not allowed (additionalProperties)")
			}
		case *kind.Format:
			// Without the value, which may be large (the producer has it).
			add(at, fmt.Sprintf("is not a valid %s: %v", k.Want, k.Err))
		default:
			add(at, e.ErrorKind.LocalizedString(printer))
		}
	}
	walk(verr, nil)
	if len(out) == 0 {
		out = append(out, apperr.FieldError{Field: field, Message: "is not valid"})
	}
	return out
}

// pointer is the JSON pointer (RFC 6901) of a location's tokens.
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escapeToken(t))
	}
	return sb.String()
}

func escapeToken(t string) string {
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}

// truncate shortens a message that quotes a producer's (possibly large)
// value.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// check validates a payload, already accepted by ParseInput, against the
// schema: nil, or a 422 schema_violation whose fields are JSON pointers
// into the payload (payload_too_complex when validating it would cost
// more than MaxValidationEst).
func (cs *compiledSchema) check(payload json.RawMessage) error {
	v, shape, bad, err := decodePayload(payload)
	if err != nil {
		return err
	}
	if bad != nil {
		return cs.violation(*bad)
	}
	if est := cs.cost.estimate(&shape); est > MaxValidationEst {
		return apperr.Invalid("payload_too_complex", fmt.Sprintf(
			"Checking this payload against the schema of event type %q would take about %s, more than the %s allowed: send fewer values or simplify the schema.",
			cs.typ, est.Round(time.Millisecond), MaxValidationEst),
			apperr.FieldError{Field: "", Message: fmt.Sprintf("holds %d values and %d bytes of strings", shape.total, shape.stringBytes)})
	}
	err = cs.schema.Validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("validate payload: %w", err)
	}
	return cs.violation(leafErrors(verr, "")...)
}

func (cs *compiledSchema) violation(fields ...apperr.FieldError) error {
	return apperr.Invalid("schema_violation",
		fmt.Sprintf("The payload does not match the schema of event type %q (version %d).", cs.typ, cs.version), fields...)
}

// countObjects counts the objects in JSON text without decoding it.
func countObjects(b []byte) int {
	n, inString := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == '{':
			n++
		}
	}
	return n
}
