package events

import "encoding/json"

// The fast path of decoding an event body (and a batch's envelope): one
// pass that validates the JSON as strictly as encoding/json and slices out
// the members, instead of encoding/json's validation pass, decoding pass,
// and a copy of every member. It serves well-formed bodies only: whatever
// it does not accept (invalid JSON, a body that is not an object, member
// names that encoding/json would match case-insensitively or after
// unescaping, nesting deeper than any valid body has) goes to
// encoding/json as before, so every answer, and every error, stays what it
// was. In serve's batch profile encoding/json's two passes over every item
// were 10 % of the CPU (docs/performance.md, "serve's CPU per event").
//
// What it accepts, it decodes as encoding/json.Unmarshal into wireEvent
// would: the raw bytes of each known member's value (the last one when a
// name repeats), unknown members skipped; the values alias the body.

// maxFastDepth bounds the nesting the fast path follows: a batch (2 levels)
// of events (at most MaxPayloadDepth+1 each) and some slack. Deeper input
// takes encoding/json's path, which refuses it.
const maxFastDepth = MaxPayloadDepth + 8

// fastWire decodes one event body; ok=false means take encoding/json's path.
func fastWire(b []byte) (w wireEvent, ok bool) {
	i, more, ok := openObject(b)
	for ok && more {
		var key []byte
		var end int
		if key, i, ok = memberName(b, i); !ok {
			break
		}
		if end, ok = scanValue(b, i, 1); !ok {
			break
		}
		switch v := b[i:end]; string(key) {
		case "type":
			w.Type = v
		case "payload":
			w.Payload = v
		case "source":
			w.Source = v
		case "occurredAt":
			w.OccurredAt = v
		case "idempotencyKey":
			w.IdempotencyKey = v
		default:
			ok = !nearName(key, "type", "payload", "source", "occurredAt", "idempotencyKey")
		}
		if ok {
			i, more, ok = nextMember(b, end)
		}
	}
	return w, ok
}

// fastBatch decodes a batch's envelope {"events":[…]}: the raw items, or
// ok=false for encoding/json's path (also when events is missing, not an
// array, or repeated: encoding/json decides what that means).
func fastBatch(b []byte) (items []json.RawMessage, ok bool) {
	seen := false
	i, more, ok := openObject(b)
	for ok && more {
		var key []byte
		var end int
		if key, i, ok = memberName(b, i); !ok {
			break
		}
		if string(key) == "events" && !seen && b[i] == '[' {
			seen = true
			items, end, ok = scanItems(b, i)
		} else {
			end, ok = scanValue(b, i, 1)
			ok = ok && string(key) != "events" && !nearName(key, "events")
		}
		if ok {
			i, more, ok = nextMember(b, end)
		}
	}
	return items, ok && seen
}

// scanItems validates the array at b[i] and returns its elements.
func scanItems(b []byte, i int) ([]json.RawMessage, int, bool) {
	items := make([]json.RawMessage, 0, 100)
	if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' {
		return items, i + 1, true
	}
	for {
		end, ok := scanValue(b, i, 2)
		if !ok {
			return nil, end, false
		}
		items = append(items, b[i:end])
		if i = skipSpace(b, end); i >= len(b) {
			return nil, i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return items, i + 1, true
		default:
			return nil, i, false
		}
	}
}

// nearName reports whether a member name other than the known ones could
// still be one of them to encoding/json: it matches names case-insensitively
// (with Unicode folding) and after unescaping.
func nearName(key []byte, names ...string) bool {
	for _, c := range key {
		if c == '\\' || c >= 0x80 {
			return true
		}
	}
	for _, n := range names {
		if len(n) == len(key) && equalFoldASCII(key, n) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a []byte, b string) bool {
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// openObject starts reading b as one JSON object (whitespace around it
// allowed): the index of its first member, and more=false when it is {}.
func openObject(b []byte) (i int, more, ok bool) {
	i = skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return i, false, false
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		return i, false, skipSpace(b, i+1) == len(b)
	}
	return i, true, true
}

// memberName reads the member at b[i]: its name (the bytes between the
// quotes) and the index of its value.
func memberName(b []byte, i int) (key []byte, value int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	end, ok := scanString(b, i)
	if !ok {
		return nil, end, false
	}
	key = b[i+1 : end-1]
	if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
		return nil, i, false
	}
	if i = skipSpace(b, i+1); i >= len(b) {
		return nil, i, false
	}
	return key, i, true
}

// nextMember reads what follows a member's value ending at b[i]: the index
// of the next member, or more=false at the end of the object, which must
// end b (but for whitespace).
func nextMember(b []byte, i int) (next int, more, ok bool) {
	if i = skipSpace(b, i); i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case ',':
		return skipSpace(b, i+1), true, true
	case '}':
		return i, false, skipSpace(b, i+1) == len(b)
	}
	return i, false, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanValue validates the JSON value starting at b[i] (no whitespace
// before it) and returns where it ends. depth is the nesting of arrays and
// objects around it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{' || c == '[':
		if depth >= maxFastDepth {
			return i, false
		}
		return scanContainer(b, i, depth)
	case c == '-' || '0' <= c && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, false
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// scanContainer validates the object or array at b[i].
func scanContainer(b []byte, i, depth int) (int, bool) {
	closer := byte(']')
	if b[i] == '{' {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if closer == '}' {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = scanString(b, i); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
		if i, ok = scanValue(b, i, depth+1); !ok {
			return i, false
		}
		if i = skipSpace(b, i); i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closer:
			return i + 1, true
		default:
			return i, false
		}
	}
}

// scanString validates the string at b[i] (the opening quote): no control
// characters, only JSON's escapes. Bytes of invalid UTF-8 pass, as they do
// in encoding/json's validation; the callers check UTF-8 after.
func scanString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return i, false
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func scanNumber(b []byte, i int) (int, bool) {
	digits := func() int {
		from := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - from
	}
	if b[i] == '-' {
		i++
	}
	switch n := digits(); {
	case n == 0, n > 1 && b[i-n] == '0':
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false
		}
	}
	return i, true
}
