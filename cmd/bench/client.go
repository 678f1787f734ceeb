package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type benchClient struct {
	http *http.Client
	base string
}

// newBenchClient shares one keep-alive connection pool among all workers:
// up to concurrency idle connections to the host, so closed-loop workers
// reuse theirs instead of dialing.
func newBenchClient(base string, concurrency int, timeout time.Duration) *benchClient {
	tr := &http.Transport{
		Proxy:                 nil, // measure the server, not a proxy
		DialContext:           (&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(100, concurrency*2),
		MaxIdleConnsPerHost:   concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &benchClient{
		http: &http.Client{
			Transport:     tr,
			Timeout:       timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base: strings.TrimRight(base, "/"),
	}
}

// appendBenchEvent appends {"type":…,"payload":{"i":seq,"sentAt":"…"}}.
func appendBenchEvent(b []byte, typ string, seq int64, sentAt time.Time) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","payload":{"i":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"sentAt":"`...)
	b = sentAt.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}}`...)
}

// benchBatch is a batch body, {"events":[…]}, of n events shaped by
// appendBenchEvent and numbered from first.
func benchBatch(typ string, first int64, n int, sentAt time.Time) []byte {
	b := make([]byte, 0, 16+n*96)
	b = append(b, `{"events":[`...)
	for j := range n {
		if j > 0 {
			b = append(b, ',')
		}
		b = appendBenchEvent(b, typ, first+int64(j), sentAt)
	}
	return append(b, "]}"...)
}

func (c *benchClient) post(ctx context.Context, path, key string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", key)
	return c.http.Do(req)
}

func (c *benchClient) postEvent(ctx context.Context, key string, body []byte) benchOutcome {
	resp, err := c.post(ctx, "/api/events", key, body)
	if err != nil {
		return benchOutcome{err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body) // drain, so the connection is reused
	_ = resp.Body.Close()
	if err != nil {
		return benchOutcome{err: err}
	}
	o := benchOutcome{status: resp.StatusCode}
	if o.ok() {
		o.events = 1
	}
	return o
}

func (c *benchClient) postBatch(ctx context.Context, key string, body []byte, n int) benchOutcome {
	resp, err := c.post(ctx, "/api/events/batch", key, body)
	if err != nil {
		return benchOutcome{err: err}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return benchOutcome{err: err}
	}
	o := benchOutcome{status: resp.StatusCode}
	if o.ok() {
		o.events, o.lastID = batchAccepted(b, n)
	}
	return o
}

// batchAccepted counts the items a batch response lists as accepted (a
// body without per-item results counts all n), and returns the largest id
// among them: ids are UUIDv7, so in text order the newest.
func batchAccepted(body []byte, n int) (int, string) {
	var r struct {
		Results []struct {
			Status string `json:"status"`
			ID     string `json:"id"`
		} `json:"results"`
	}
	if json.Unmarshal(body, &r) != nil || r.Results == nil {
		return n, ""
	}
	k, last := 0, ""
	for _, it := range r.Results {
		if it.Status == "accepted" {
			k++
			last = max(last, it.ID)
		}
	}
	return k, last
}

// api calls a management endpoint with a bearer token, decoding a 2xx
// answer into out and turning anything else into an error with the
// problem's title and detail.
func (c *benchClient) api(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s", method, path, describeProblem(resp.Status, b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func describeProblem(status string, body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &p) != nil || (p.Title == "" && p.Detail == "") {
		return status
	}
	s := status + ": " + p.Title
	if p.Detail != "" && p.Detail != p.Title {
		s += ": " + p.Detail
	}
	for _, e := range p.Errors {
		s += fmt.Sprintf(" [%s: %s]", e.Field, e.Message)
	}
	return s
}
