package console

import (
	"net/http"
	"strconv"
)

// overviewSample is how many recent deliveries the success rate is taken
// over, and how many DLQ entries are counted before "or more".
const overviewSample = 100

type overviewData struct {
	Usage   periodUsage
	Chart   chart
	Meter   meter
	Success struct {
		Succeeded, Failed, Pending int
		Percent                    int
		Any                        bool
	}
	Channels     int
	OpenCircuits []channel // open or half-open
	Start        *gettingStarted
	DLQ          int
	DLQMore      bool
}

// gettingStarted is the overview's checklist until the tenant has a
// channel, a rule and an event this month: the three steps to a first
// notification, each linking to where it is done.
type gettingStarted struct {
	Channel, Rule, Event bool
	Origin               string // this server, for the curl line
}

// meter is the month's events against the limits, for <meter>.
type meter struct {
	Max, Low, High int64
	HasLimit       bool
}

// overview reads only aggregates: the usage counters (the chart), the
// latest deliveries, the channels and one page of the DLQ — never the
// events table, so it costs the same with 100 or 10 million events.
func (r *request) overviewData() (overviewData, error) {
	var d overviewData
	var u usage
	var ds page[delivery]
	var chs page[channel]
	var dead page[deadJob]
	var rules page[rule]
	ctx := r.ctx()
	err := parallel(
		func() error { return r.api.get(ctx, query("/api/rules", "limit", "1"), &rules) },
		func() error { return r.api.get(ctx, "/api/usage", &u) },
		func() error {
			return r.api.get(ctx, query("/api/deliveries", "limit", strconv.Itoa(overviewSample)), &ds)
		},
		func() error { return r.api.get(ctx, query("/api/channels", "limit", "200"), &chs) },
		func() error { return r.api.get(ctx, query("/api/dlq", "limit", strconv.Itoa(overviewSample)), &dead) },
	)
	if err != nil {
		return d, err
	}
	d.Usage = u.Current
	d.Chart = newChart(u.Current.EventsByDay, utcToday())
	ev := u.Current.Events
	if ev.HardLimit != nil || ev.SoftLimit != nil {
		d.Meter.HasLimit = true
		if ev.SoftLimit != nil {
			d.Meter.Low, d.Meter.High = *ev.SoftLimit*8/10, *ev.SoftLimit
			d.Meter.Max = *ev.SoftLimit
		}
		if ev.HardLimit != nil {
			d.Meter.Max = *ev.HardLimit
			if ev.SoftLimit == nil {
				d.Meter.Low, d.Meter.High = *ev.HardLimit*8/10, *ev.HardLimit
			}
		}
	}
	for _, x := range ds.Data {
		switch x.Status {
		case "succeeded":
			d.Success.Succeeded++
		case "failed":
			d.Success.Failed++
		default:
			d.Success.Pending++
		}
	}
	if done := d.Success.Succeeded + d.Success.Failed; done > 0 {
		d.Success.Any = true
		d.Success.Percent = d.Success.Succeeded * 100 / done
	}
	d.Channels = len(chs.Data)
	for _, ch := range chs.Data {
		if ch.Health != nil && ch.Health.State != "closed" {
			d.OpenCircuits = append(d.OpenCircuits, ch)
		}
	}
	d.DLQ, d.DLQMore = len(dead.Data), dead.NextCursor != nil
	if r.atLeast("member") && (d.Channels == 0 || len(rules.Data) == 0 || u.Current.Events.Count == 0) {
		d.Start = &gettingStarted{Channel: d.Channels > 0, Rule: len(rules.Data) > 0, Event: u.Current.Events.Count > 0,
			Origin: r.Scheme() + "://" + r.Request().Host}
	}
	return d, nil
}

func (s *Console) overview(r *request) error {
	d, err := r.overviewData()
	if err != nil {
		return r.fail(err)
	}
	return r.render(http.StatusOK, "overview", "overview", "Overview", d)
}
