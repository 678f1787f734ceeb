package console

import (
	"bytes"
	"encoding/json"
	"html/template"
	"strconv"
	"strings"
	"time"
)

func (s *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"static": s.staticURL,
		"when":   when,
		"whenp": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return when(*t)
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"short": func(id string) string {
			if len(id) > 8 {
				return id[:8]
			}
			return id
		},
		"pretty": pretty,
		"num":    num,
		"str": func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		},
		"add":   func(a, b int) int { return a + b },
		"join":  strings.Join,
		"title": func(s string) string { return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):] },
		"list":  func(s ...string) []string { return s },
		"deref": deref,
		"editor": func(id string, ed jsonEditor) any {
			return struct {
				ID       string
				Problems []jsonProblem
			}{id, ed.Problems}
		},
		"intp": func(p *int) string {
			if p == nil {
				return ""
			}
			return strconv.Itoa(*p)
		},
	}
}

// deref reads a pointer for a template (the zero value for nil).
func deref(p any) any {
	switch x := p.(type) {
	case *bool:
		return x != nil && *x
	case *string:
		if x == nil {
			return ""
		}
		return *x
	case *int:
		if x == nil {
			return 0
		}
		return *x
	}
	return p
}

// when writes a time in UTC, to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// pretty indents JSON for reading; invalid JSON is shown as it is.
func pretty(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// num writes an integer with thousands separators.
func num(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case *int64:
		if x == nil {
			return "unlimited"
		}
		n = *x
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
