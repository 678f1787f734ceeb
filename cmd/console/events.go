package console

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

type eventFilter struct {
	Type, Source, Since, Until string // Since/Until as <input type="datetime-local"> values, UTC
}

type eventsData struct {
	Filter    eventFilter
	Events    []event
	Next      string // query of the next page, "" on the last
	Paged     bool   // not the first page
	Problem   *apiError
	StreamURL string
}

// localToRFC3339 reads a datetime-local value as UTC.
func localToRFC3339(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC().Format(time.RFC3339), true
		}
	}
	return "", false
}

func (s *Console) events(r *request) error {
	f := eventFilter{Type: strings.TrimSpace(r.QueryParam("type")), Source: strings.TrimSpace(r.QueryParam("source")),
		Since: r.QueryParam("since"), Until: r.QueryParam("until")}
	d := eventsData{Filter: f, Paged: r.QueryParam("cursor") != "",
		StreamURL: query(StreamRoute, "type", f.Type, "source", f.Source)}
	since, okSince := localToRFC3339(f.Since)
	until, okUntil := localToRFC3339(f.Until)
	if !okSince || !okUntil {
		return r.listFailed(badTime(), "events", "Events", &d, &d.Problem)
	}
	var p page[event]
	err := r.api.get(r.ctx(), query("/api/events", "type", f.Type, "source", f.Source, "since", since, "until", until,
		"cursor", r.QueryParam("cursor"), "limit", "50"), &p)
	if err != nil {
		return r.listFailed(err, "events", "Events", &d, &d.Problem)
	}
	d.Events = p.Data
	if p.NextCursor != nil {
		d.Next = query("", "type", f.Type, "source", f.Source, "since", f.Since, "until", f.Until, "cursor", *p.NextCursor)
	}
	return r.render(http.StatusOK, "events", "events", "Events", d)
}

// stream relays GET /api/events/stream to the browser: the console's live
// tail is the public stream, read with the session's token (EventSource
// cannot send an Authorization header, and the token stays in its cookie).
func (s *Console) stream(r *request) error {
	h := http.Header{}
	if id := r.Request().Header.Get("Last-Event-ID"); id != "" {
		h.Set("Last-Event-ID", id)
	}
	req, err := r.api.newRequest(r.ctx(), http.MethodGet,
		query("/api/events/stream", "type", r.QueryParam("type"), "source", r.QueryParam("source")), nil, h)
	if err != nil {
		return err
	}
	s.api.ServeHTTP(r.Response(), req)
	return nil
}

type matchRow struct {
	RuleID   string
	RuleName string
	Version  int
	Fired    *bool
	Reason   *string
}

type deliveryRow struct {
	delivery
	ChannelName string
	RuleName    string
	FallbackOf  *string // lineage (SPEC §9), when the API reports it
}

type eventDetailData struct {
	Event      event
	Matches    []matchRow
	Deliveries []deliveryRow
	Rules      []rule
	Channels   map[string]string // id → name
	Test       *testResult
	TestRule   string
	TestError  *apiError
}

func (r *request) eventDetailData(id string) (eventDetailData, error) {
	var d eventDetailData
	var ev eventDetail
	ctx := r.ctx()
	if err := r.api.get(ctx, "/api/events/"+pathID(id), &ev); err != nil {
		return d, err
	}
	var ds page[delivery]
	var rules page[rule]
	var chs page[channel]
	err := parallel(
		func() error { return r.api.get(ctx, query("/api/deliveries", "eventId", ev.ID, "limit", "200"), &ds) },
		func() error { return r.api.get(ctx, query("/api/rules", "limit", "200"), &rules) },
		func() error { return r.api.get(ctx, query("/api/channels", "limit", "200"), &chs) },
	)
	if err != nil {
		return d, err
	}
	ruleNames := map[string]string{}
	for _, x := range rules.Data {
		ruleNames[x.ID] = x.Name
	}
	chNames := channelNames(chs.Data)
	d.Event, d.Rules, d.Channels = ev.event, rules.Data, chNames
	for _, m := range ev.Matches {
		d.Matches = append(d.Matches, matchRow{RuleID: m.RuleID, RuleName: ruleNames[m.RuleID], Version: m.RuleVersion,
			Fired: m.Fired, Reason: m.Reason})
	}
	lineage := map[string]*string{}
	for _, x := range ev.Deliveries {
		lineage[x.ID] = x.FallbackOf
	}
	for _, x := range ds.Data {
		row := deliveryRow{delivery: x, ChannelName: chNames[x.ChannelID], FallbackOf: lineage[x.ID]}
		if x.RuleID != nil {
			row.RuleName = ruleNames[*x.RuleID]
		}
		d.Deliveries = append(d.Deliveries, row)
	}
	return d, nil
}

// renderEvent renders the event page of d.
func (r *request) renderEvent(status int, d eventDetailData) error {
	return r.render(status, "event", "events", "Event "+d.Event.Type, d)
}

func (s *Console) eventDetail(r *request) error {
	d, err := r.eventDetailData(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	return r.renderEvent(http.StatusOK, d)
}

// eventTest dry-runs a rule against this event (POST /api/rules/test):
// why a rule did or did not match, without sending anything.
func (s *Console) eventTest(r *request) error {
	d, err := r.eventDetailData(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	d.TestRule = r.FormValue("ruleId")
	in := map[string]any{"type": d.Event.Type, "payload": d.Event.Payload,
		"occurredAt": d.Event.OccurredAt.UTC().Format(time.RFC3339Nano)}
	if d.Event.Source != nil {
		in["source"] = *d.Event.Source
	}
	var res testResult
	err = r.api.do(r.ctx(), http.MethodPost, "/api/rules/test", map[string]any{"ruleId": d.TestRule, "event": in}, &res)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusUnauthorized:
		d.TestError = ae
		return r.renderEvent(http.StatusUnprocessableEntity, d)
	case err != nil:
		return r.fail(err)
	}
	res.name(d.Channels)
	d.Test = &res
	return r.renderEvent(http.StatusOK, d)
}

// deliveryRetry retries one failed delivery, then returns to the page the
// button was on.
func (s *Console) deliveryRetry(r *request) error {
	back := safeNext(r.FormValue("back"))
	err := r.api.do(r.ctx(), http.MethodPost, "/api/deliveries/"+pathID(r.Param("id"))+"/retry", nil, nil)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusConflict:
		return r.done(back, "Not retried: "+ae.Detail)
	case err != nil:
		return r.fail(err)
	}
	return r.done(back, "The delivery is queued to be sent again.")
}
