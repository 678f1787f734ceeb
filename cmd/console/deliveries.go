package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

type deliveryFilter struct {
	Status, ChannelID, EventID string
}

type deliveriesData struct {
	Filter   deliveryFilter
	Rows     []deliveryRow
	Channels []channel
	Next     string
	Paged    bool
	Problem  *apiError
}

func (s *Console) deliveries(r *request) error {
	f := deliveryFilter{Status: r.QueryParam("status"), ChannelID: r.QueryParam("channelId"), EventID: strings.TrimSpace(r.QueryParam("eventId"))}
	d := deliveriesData{Filter: f, Paged: r.QueryParam("cursor") != ""}
	var p page[delivery]
	var err error
	d.Channels, err = r.pageAndChannels(query("/api/deliveries", "status", f.Status, "channelId", f.ChannelID, "eventId", f.EventID,
		"cursor", r.QueryParam("cursor"), "limit", "50"), &p)
	if err != nil {
		return r.listFailed(err, "deliveries", "Deliveries", &d, &d.Problem)
	}
	names := channelNames(d.Channels)
	for _, x := range p.Data {
		d.Rows = append(d.Rows, deliveryRow{delivery: x, ChannelName: names[x.ChannelID]})
	}
	if p.NextCursor != nil {
		d.Next = query("", "status", f.Status, "channelId", f.ChannelID, "eventId", f.EventID, "cursor", *p.NextCursor)
	}
	return r.render(http.StatusOK, "deliveries", "deliveries", "Deliveries", d)
}

// retryAllCap bounds one "retry all matching" click: the loop calls the
// API once per entry, against the tenant's rate limit.
const retryAllCap = 200

// retryEach retries what list returns, page after page (a retried entry
// leaves the list), until nothing new comes, retryAllCap is reached or the
// rate limit stops it. It returns the notice for the next page, or an
// error that is not the rate limit.
func retryEach(list func() ([]string, error), retry func(id string) error) (string, error) {
	n, failed, more, seen := 0, 0, false, map[string]bool{}
	var limited bool
loop:
	for {
		ids, err := list()
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
				limited = true
				break
			}
			return "", err
		}
		fresh := 0
		for _, id := range ids {
			if seen[id] {
				continue
			}
			if n+failed == retryAllCap {
				more = true
				break loop
			}
			seen[id], fresh = true, fresh+1
			err := retry(id)
			var ae *apiError
			switch {
			case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
				limited = true
				break loop
			case err != nil:
				failed++
			default:
				n++
			}
		}
		if fresh == 0 {
			break
		}
	}
	msg := fmt.Sprintf("%d retried.", n)
	if failed > 0 {
		msg += fmt.Sprintf(" %d could not be retried.", failed)
	}
	switch {
	case limited:
		msg += " The API's rate limit stopped the rest: try again in a few seconds."
	case more:
		msg += " More remain: retry again to continue."
	}
	return msg, nil
}

// deliveriesRetryAll retries every failed delivery matching the filter, one
// POST /api/deliveries/{id}/retry each (a retried delivery is pending, so
// it leaves the failed list).
func (s *Console) deliveriesRetryAll(r *request) error {
	f := deliveryFilter{ChannelID: r.FormValue("channelId"), EventID: strings.TrimSpace(r.FormValue("eventId"))}
	ctx := r.ctx()
	msg, err := retryEach(func() ([]string, error) {
		var p page[delivery]
		err := r.api.get(ctx, query("/api/deliveries", "status", "failed", "channelId", f.ChannelID, "eventId", f.EventID, "limit", "100"), &p)
		ids := make([]string, len(p.Data))
		for i, x := range p.Data {
			ids[i] = x.ID
		}
		return ids, err
	}, func(id string) error {
		return r.api.do(ctx, http.MethodPost, "/api/deliveries/"+pathID(id)+"/retry", nil, nil)
	})
	if err != nil {
		return r.fail(err)
	}
	return r.done(query(Prefix+"/deliveries", "status", "failed", "channelId", f.ChannelID, "eventId", f.EventID), msg)
}

type dlqEntry struct {
	deadJob
	EventID, DeliveryID, ChannelID string
	ChannelName                    string
	LastError                      string
}

// dlqFilter is the DLQ page's filter: the one GET /api/dlq and the bulk
// POST /api/dlq/retry both take, so "retry all matching" retries exactly
// the entries the page lists. Since/Until are datetime-local values, UTC.
type dlqFilter struct {
	Kind, ChannelID, Since, Until string
}

func readDLQFilter(value func(string) string) dlqFilter {
	return dlqFilter{Kind: value("kind"), ChannelID: value("channelId"), Since: value("since"), Until: value("until")}
}

// Any reports that some filter is set.
func (f dlqFilter) Any() bool {
	return f.Kind != "" || f.ChannelID != "" || f.Since != "" || f.Until != ""
}

// Query is the filter as the console's own query string ("" or "?…").
func (f dlqFilter) Query(more ...string) string {
	return query("", append([]string{"kind", f.Kind, "channelId", f.ChannelID, "since", f.Since, "until", f.Until}, more...)...)
}

// api is the filter in the API's terms; false when a time does not parse.
func (f dlqFilter) api() (map[string]string, bool) {
	since, okSince := localToRFC3339(f.Since)
	until, okUntil := localToRFC3339(f.Until)
	return map[string]string{"kind": f.Kind, "channelId": f.ChannelID, "since": since, "until": until}, okSince && okUntil
}

type dlqData struct {
	Filter   dlqFilter
	Channels []channel
	Entries  []dlqEntry
	Next     string
	Paged    bool
	Problem  *apiError
}

func toDLQEntry(j deadJob, channels map[string]string) dlqEntry {
	e := dlqEntry{deadJob: j}
	var args struct {
		EventID    string `json:"event_id"`
		DeliveryID string `json:"delivery_id"`
		ChannelID  string `json:"channel_id"`
	}
	_ = json.Unmarshal(j.Args, &args)
	e.EventID, e.DeliveryID, e.ChannelID = args.EventID, args.DeliveryID, args.ChannelID
	e.ChannelName = channels[e.ChannelID]
	if len(j.Errors) > 0 {
		e.LastError = j.Errors[len(j.Errors)-1].Error
	}
	return e
}

func (s *Console) dlq(r *request) error {
	d := dlqData{Filter: readDLQFilter(r.QueryParam), Paged: r.QueryParam("cursor") != ""}
	f, ok := d.Filter.api()
	if !ok {
		return r.listFailed(badTime(), "dlq", "Dead-letter queue", &d, &d.Problem)
	}
	var p page[deadJob]
	var err error
	d.Channels, err = r.pageAndChannels(query("/api/dlq", "kind", f["kind"], "channelId", f["channelId"], "since", f["since"], "until", f["until"],
		"cursor", r.QueryParam("cursor"), "limit", "50"), &p)
	if err != nil {
		return r.listFailed(err, "dlq", "Dead-letter queue", &d, &d.Problem)
	}
	names := channelNames(d.Channels)
	for _, j := range p.Data {
		d.Entries = append(d.Entries, toDLQEntry(j, names))
	}
	if p.NextCursor != nil {
		d.Next = d.Filter.Query("cursor", *p.NextCursor)
	}
	return r.render(http.StatusOK, "dlq", "dlq", "Dead-letter queue", d)
}

func (s *Console) dlqRetry(r *request) error {
	id, err := strconv.ParseInt(r.Param("id"), 10, 64)
	if err != nil {
		return r.notFound()
	}
	if err := r.api.do(r.ctx(), http.MethodPost, "/api/dlq/"+strconv.FormatInt(id, 10)+"/retry", nil, nil); err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/dlq"+readDLQFilter(r.FormValue).Query(), "Entry "+strconv.FormatInt(id, 10)+" is queued to run again.")
}

func (s *Console) dlqDiscard(r *request) error {
	id, err := strconv.ParseInt(r.Param("id"), 10, 64)
	if err != nil {
		return r.notFound()
	}
	if err := r.api.do(r.ctx(), http.MethodDelete, "/api/dlq/"+strconv.FormatInt(id, 10), nil, nil); err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/dlq"+readDLQFilter(r.FormValue).Query(), "Entry "+strconv.FormatInt(id, 10)+" discarded.")
}

// dlqRetryAll retries every entry the page's filter selects with one
// POST /api/dlq/retry: the API retries them all in batches, once each
// however many clicks overlap, and says how many.
func (s *Console) dlqRetryAll(r *request) error {
	filter := readDLQFilter(r.FormValue)
	f, ok := filter.api()
	if !ok {
		return r.fail(&apiError{Status: http.StatusBadRequest, Detail: "The time filter is not a date and time."})
	}
	body := map[string]string{}
	for k, v := range f {
		if v != "" {
			body[k] = v
		}
	}
	var res struct {
		Retried int `json:"retried"`
	}
	if err := r.api.do(r.ctx(), http.MethodPost, "/api/dlq/retry", body, &res); err != nil {
		return r.fail(err)
	}
	msg := "Nothing to retry: no entry matches."
	switch {
	case res.Retried == 1:
		msg = "1 entry is queued to run again."
	case res.Retried > 1:
		msg = fmt.Sprintf("%s entries are queued to run again.", num(res.Retried))
	}
	return r.done(Prefix+"/dlq"+filter.Query(), msg)
}
