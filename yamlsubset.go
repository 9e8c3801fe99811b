package autotag

import (
	"fmt"
	"strconv"
	"strings"
)

// This file reads the small subset of YAML 1.2 that rules files use, so that autotag
// needs no YAML dependency. Supported:
//
//   - block mappings (`key: value`, `key:` followed by an indented block),
//   - block sequences (`- value`, `- key: value` starting a mapping item), also at the
//     same indentation as their parent key,
//   - flow sequences of scalars on one line (`[a, "b c", 3]`),
//   - scalars: plain, 'single-quoted' ('' escapes '), "double-quoted" (Go/JSON escapes);
//     plain null, ~, true, false and numbers are typed, everything else is a string,
//   - comments (`#` at the start of a line or after a blank) and blank lines.
//
// Anything else (anchors, aliases, tags, block scalars, flow mappings, multi-line
// scalars, documents markers other than a leading ---) is rejected with an error naming
// the line, rather than misread. The result uses map[string]any, []any, string,
// float64, bool and nil, like encoding/json's generic decoding.

// yamlLine is one meaningful line: its indentation, its text without the comment, and
// its 1-based number in the source.
type yamlLine struct {
	indent int
	text   string
	num    int
}

// parseYAMLSubset parses src (see the file comment for the subset) into generic values.
func parseYAMLSubset(src []byte) (any, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n") {
		if strings.ContainsRune(raw, '\t') && strings.TrimLeft(raw, " ") != "" && strings.TrimLeft(raw, " ")[0] == '\t' {
			return nil, fmt.Errorf("line %d: tabs are not allowed for indentation in YAML", i+1)
		}
		text, err := stripYAMLComment(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		text = strings.TrimRight(text, " \t")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" {
			continue
		}
		if len(lines) == 0 && trimmed == "---" {
			continue
		}
		lines = append(lines, yamlLine{indent: len(text) - len(trimmed), text: trimmed, num: i + 1})
	}
	if len(lines) == 0 {
		return nil, nil
	}
	p := &yamlParser{lines: lines}
	v, err := p.block(lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.lines) {
		l := p.lines[p.i]
		return nil, fmt.Errorf("line %d: unexpected indentation or content %q", l.num, l.text)
	}
	return v, nil
}

// stripYAMLComment removes a trailing comment, honouring quotes.
func stripYAMLComment(s string) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			// A quote opens a quoted scalar only at the start of a token.
			if i == 0 || strings.ContainsRune(" [,:-", rune(s[i-1])) {
				quote = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i], nil
		}
	}
	if quote != 0 {
		return "", fmt.Errorf("unterminated %c-quoted string", quote)
	}
	return s, nil
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

// block parses the node starting at the current line, which has the given indent.
func (p *yamlParser) block(indent int) (any, error) {
	l := p.lines[p.i]
	if l.indent != indent {
		return nil, fmt.Errorf("line %d: bad indentation", l.num)
	}
	if isSeqItem(l.text) {
		return p.sequence(indent)
	}
	if _, _, ok, err := splitYAMLKey(l.text); err != nil {
		return nil, fmt.Errorf("line %d: %w", l.num, err)
	} else if ok {
		return p.mapping(indent)
	}
	p.i++
	return yamlValue(l.text, l.num)
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// sequence parses block sequence items at indent.
func (p *yamlParser) sequence(indent int) ([]any, error) {
	out := []any{}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent != indent || !isSeqItem(l.text) {
			if l.indent > indent {
				return nil, fmt.Errorf("line %d: bad indentation", l.num)
			}
			break
		}
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if rest == "" {
			p.i++
			if p.i < len(p.lines) && p.lines[p.i].indent > indent {
				v, err := p.block(p.lines[p.i].indent)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			} else {
				out = append(out, nil)
			}
			continue
		}
		// The item's content starts a node indented at the column after "- ".
		col := indent + len(l.text) - len(rest)
		p.lines[p.i] = yamlLine{indent: col, text: rest, num: l.num}
		v, err := p.block(col)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// mapping parses block mapping entries at indent.
func (p *yamlParser) mapping(indent int) (map[string]any, error) {
	out := map[string]any{}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: bad indentation", l.num)
		}
		if isSeqItem(l.text) {
			break
		}
		key, rest, ok, err := splitYAMLKey(l.text)
		if err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("expected `key: value`, got %q", l.text)
			}
			return nil, fmt.Errorf("line %d: %w", l.num, err)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.num, key)
		}
		p.i++
		if rest != "" {
			v, err := yamlValue(rest, l.num)
			if err != nil {
				return nil, err
			}
			out[key] = v
			continue
		}
		switch {
		case p.i < len(p.lines) && p.lines[p.i].indent > indent:
			v, err := p.block(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			out[key] = v
		case p.i < len(p.lines) && p.lines[p.i].indent == indent && isSeqItem(p.lines[p.i].text):
			v, err := p.sequence(indent)
			if err != nil {
				return nil, err
			}
			out[key] = v
		default:
			out[key] = nil
		}
	}
	return out, nil
}

// splitYAMLKey splits "key: rest" (or "key:"); ok is false when text is not a mapping
// entry.
func splitYAMLKey(text string) (key, rest string, ok bool, err error) {
	if text[0] == '"' || text[0] == '\'' {
		end := closingQuote(text)
		if end < 0 {
			return "", "", false, fmt.Errorf("unterminated quoted key")
		}
		after := text[end+1:]
		if after != ":" && !strings.HasPrefix(after, ": ") {
			return "", "", false, nil
		}
		k, err := yamlValue(text[:end+1], 0)
		if err != nil {
			return "", "", false, err
		}
		return k.(string), strings.TrimSpace(after[1:]), true, nil
	}
	if text[0] == '[' || text[0] == '{' {
		return "", "", false, nil
	}
	if strings.HasSuffix(text, ":") && !strings.Contains(text[:len(text)-1], ": ") {
		return strings.TrimSpace(text[:len(text)-1]), "", true, nil
	}
	if i := strings.Index(text, ": "); i > 0 {
		return strings.TrimSpace(text[:i]), strings.TrimSpace(text[i+2:]), true, nil
	}
	return "", "", false, nil
}

// closingQuote returns the index of the quote closing the quoted scalar at s[0], or -1.
func closingQuote(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

// yamlValue parses a one-line value: a flow sequence or a scalar.
func yamlValue(s string, line int) (any, error) {
	switch s[0] {
	case '[':
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("line %d: a flow sequence must close on the same line", line)
		}
		return yamlFlowSeq(s[1:len(s)-1], line)
	case '{':
		return nil, fmt.Errorf("line %d: flow mappings {…} are not supported; use block mappings", line)
	case '&', '*', '!', '|', '>', '%', '@', '`':
		return nil, fmt.Errorf("line %d: YAML feature %q is not supported in rules files", line, s[:1])
	}
	return yamlScalar(s, line)
}

func yamlFlowSeq(s string, line int) ([]any, error) {
	out := []any{}
	s = strings.TrimSpace(s)
	for s != "" {
		var item string
		if s[0] == '"' || s[0] == '\'' {
			end := closingQuote(s)
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated quoted string", line)
			}
			item, s = s[:end+1], strings.TrimSpace(s[end+1:])
			if s != "" && s[0] != ',' {
				return nil, fmt.Errorf("line %d: expected ',' after %s", line, item)
			}
		} else if i := strings.IndexByte(s, ','); i >= 0 {
			item, s = strings.TrimSpace(s[:i]), s[i:]
		} else {
			item, s = strings.TrimSpace(s), ""
		}
		if item == "" || strings.ContainsAny(item[:1], "[{") {
			return nil, fmt.Errorf("line %d: empty or nested item in a flow sequence", line)
		}
		v, err := yamlScalar(item, line)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		s = strings.TrimSpace(strings.TrimPrefix(s, ","))
	}
	return out, nil
}

func yamlScalar(s string, line int) (any, error) {
	switch s[0] {
	case '"':
		if closingQuote(s) != len(s)-1 {
			return nil, fmt.Errorf("line %d: bad double-quoted string %s", line, s)
		}
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad double-quoted string %s: %w", line, s, err)
		}
		return v, nil
	case '\'':
		if closingQuote(s) != len(s)-1 {
			return nil, fmt.Errorf("line %d: bad single-quoted string %s", line, s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	switch s {
	case "null", "Null", "NULL", "~":
		return nil, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	if looksNumeric(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	}
	return s, nil
}

// looksNumeric reports whether s is a YAML 1.2 core-schema number (decimal only).
func looksNumeric(s string) bool {
	digits := false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case (c == '-' || c == '+') && (i == 0 || s[i-1] == 'e' || s[i-1] == 'E'):
		case c == '.' || c == 'e' || c == 'E':
		default:
			return false
		}
	}
	return digits
}
