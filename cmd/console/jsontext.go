package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// indentWithPaths pretty-prints a JSON value with two-space indents, keys
// in their order, and returns the line (1-based) where the value at each
// JSON path starts: root "definition" gives "definition.match.all[0].op",
// the paths the API names in its field errors.
func indentWithPaths(raw []byte, root string) (string, map[string]int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	p := &jsonPrinter{dec: dec, line: 1, lines: map[string]int{}}
	if err := p.value(root, 0); err != nil {
		return "", nil, err
	}
	if _, err := dec.Token(); err == nil {
		return "", nil, errors.New("unexpected data after the JSON value")
	}
	return p.b.String(), p.lines, nil
}

type jsonPrinter struct {
	dec   *json.Decoder
	b     strings.Builder
	line  int
	lines map[string]int
}

func (p *jsonPrinter) newline(depth int) {
	p.b.WriteByte('\n')
	p.b.WriteString(strings.Repeat("  ", depth))
	p.line++
}

func (p *jsonPrinter) value(path string, depth int) error {
	tok, err := p.dec.Token()
	if err != nil {
		return err
	}
	p.lines[path] = p.line
	switch t := tok.(type) {
	case json.Delim:
		open, end := string(t), "}"
		if t == '[' {
			end = "]"
		}
		p.b.WriteString(open)
		n := 0
		for p.dec.More() {
			if n > 0 {
				p.b.WriteByte(',')
			}
			p.newline(depth + 1)
			child := path + "[" + strconv.Itoa(n) + "]"
			if t == '{' {
				k, err := p.dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				p.b.WriteString(quoteJSON(key) + ": ")
				child = path + "." + key
			}
			if err := p.value(child, depth+1); err != nil {
				return err
			}
			n++
		}
		if _, err := p.dec.Token(); err != nil {
			return err
		}
		if n > 0 {
			p.newline(depth)
		}
		p.b.WriteString(end)
	case string:
		p.b.WriteString(quoteJSON(t))
	case json.Number:
		p.b.WriteString(t.String())
	case bool:
		p.b.WriteString(strconv.FormatBool(t))
	case nil:
		p.b.WriteString("null")
	}
	return nil
}

func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// lineOf finds the line of path, or of its nearest ancestor present (a
// missing member is reported on the object that lacks it).
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if n, ok := lines[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// syntaxLine is the line of a JSON syntax error in text, or 0.
func syntaxLine(text string, err error) int {
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		return 0
	}
	off := min(int(syn.Offset), len(text))
	return strings.Count(text[:off], "\n") + 1
}

// jsonEditor is a JSON text field with its problems, each at a line.
type jsonEditor struct {
	Text     string
	Problems []jsonProblem
}

type jsonProblem struct {
	Line    int
	Path    string
	Message string
}

// editorFor prepares text (as the user sent it) for the form again: pretty
// when it parses, with each field error of the API placed at its line.
func editorFor(text, root string, e *apiError) jsonEditor {
	ed := jsonEditor{Text: text}
	lines := map[string]int{}
	if out, ls, err := indentWithPaths([]byte(text), root); err == nil {
		ed.Text, lines = out, ls
	} else if n := syntaxLine(text, err); n > 0 {
		lines[root] = n // a syntax error is reported on the whole value
	}
	if e != nil {
		for _, f := range e.Errors {
			if f.Field == root || strings.HasPrefix(f.Field, root+".") || strings.HasPrefix(f.Field, root+"[") {
				ed.Problems = append(ed.Problems, jsonProblem{Line: lineOf(lines, f.Field), Path: f.Field, Message: f.Message})
			}
		}
	}
	return ed
}

// checkJSON refuses text that is not one JSON value, saying where.
func checkJSON(text, field string) *apiError {
	var v any
	dec := json.NewDecoder(strings.NewReader(text))
	err := dec.Decode(&v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	if err == nil {
		return nil
	}
	msg := "is not valid JSON"
	if n := syntaxLine(text, err); n > 0 {
		msg = fmt.Sprintf("is not valid JSON (line %d: %s)", n, err.Error())
	}
	return &apiError{Status: 400, Detail: "The " + field + " is not valid JSON.", Errors: []fieldError{{Field: field, Message: msg}}}
}
