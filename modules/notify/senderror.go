package notify

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SendError classifies a failed send: Permanent failures (a 4xx, a refused
// destination, an invalid channel) fail the delivery at once; the others are
// retried with backoff, or after RetryAfter when the provider asked for it.
type SendError struct {
	Permanent  bool
	RetryAfter time.Duration // > 0 only when the provider named a delay (429 Retry-After, Telegram retry_after)
	StatusCode int           // HTTP status or SMTP reply code; 0 when none was received
	Err        error
}

func (e *SendError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Err == nil {
		return kind + " send failure"
	}
	return e.Err.Error() + " (" + kind + ")"
}

func (e *SendError) Unwrap() error { return e.Err }

// Permanent marks err as a failure that retrying cannot fix.
func Permanent(err error) error {
	return &SendError{Permanent: true, Err: err}
}

// Transient marks err as a failure worth retrying; retryAfter > 0 is the
// delay the provider asked for, 0 leaves the delay to the caller's backoff.
func Transient(err error, retryAfter time.Duration) error {
	return &SendError{RetryAfter: max(retryAfter, 0), Err: err}
}

// IsPermanent reports whether err is a permanent send failure. Errors that
// carry no classification (context cancellation, say) are not permanent.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// statusOf is the HTTP status (or SMTP reply code) a send failed with; 0
// when none was received.
func statusOf(err error) int {
	var se *SendError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// Throttled returns the pause a receiver asked for with a 429 and its
// Retry-After (Telegram: retry_after): the whole channel waits that long,
// and the delivery's attempt is not spent (SPEC §8).
func Throttled(err error) (time.Duration, bool) {
	if ra, ok := RetryAfter(err); ok && statusOf(err) == http.StatusTooManyRequests {
		return ra, true
	}
	return 0, false
}

// RetryAfter returns the delay the provider asked for before the next attempt.
func RetryAfter(err error) (time.Duration, bool) {
	var se *SendError
	if errors.As(err, &se) && !se.Permanent && se.RetryAfter > 0 {
		return se.RetryAfter, true
	}
	return 0, false
}

// statusError is the classified error for a non-2xx HTTP answer: 408, 429 and
// 5xx are transient; every other status (other 4xx, unfollowed 3xx) is
// permanent.
func statusError(status int, retryAfter time.Duration, err error) error {
	transient := status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
	if transient {
		return &SendError{RetryAfter: max(retryAfter, 0), StatusCode: status, Err: err}
	}
	return &SendError{Permanent: true, StatusCode: status, Err: err}
}

// maxRetryAfter bounds a provider's requested delay, so one odd header cannot
// park a delivery for weeks.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads an HTTP Retry-After value: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). Unparseable or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now).Round(time.Second)
	}
	return min(max(d, 0), maxRetryAfter)
}

// secondsRetryAfter converts a provider's retry_after seconds field.
func secondsRetryAfter(secs int64) time.Duration {
	if secs <= 0 {
		return 0
	}
	return min(time.Duration(min(secs, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
}

// redactedError hides secrets that an underlying error's text may contain
// (net/http puts the request URL, and with it Telegram's bot token, in
// *url.Error). Unwrap exposes only the cause with the URL layer removed.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
