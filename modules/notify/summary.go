package notify

import (
	"io"
	"strings"
	"unicode/utf8"
)

const (
	maxResponseRead    = 64 << 10 // bytes of a response body read at most
	maxResponseSummary = 512      // bytes of it kept in Result.Response
)

// readCapped reads at most maxResponseRead bytes of body. The rest is left
// unread: the connection is then not reused, which is the right trade for an
// endpoint that answers with megabytes.
func readCapped(body io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(body, maxResponseRead))
}

// summarize turns a response body into Result.Response: secrets replaced,
// whitespace collapsed, cut to maxResponseSummary bytes on a rune boundary.
func summarize(body []byte, secrets ...string) string {
	s := scrub(string(body), secrets...)
	s = strings.Join(strings.Fields(s), " ")
	return truncateUTF8(s, maxResponseSummary)
}

// scrub replaces every non-empty secret in s.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune, and makes
// the result valid UTF-8.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// truncateRunes cuts s to at most n runes, marking the cut with an ellipsis;
// chat APIs reject over-long texts outright (Telegram and WhatsApp: 4096).
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
