package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (s *Console) rules(r *request) error {
	rules, next, err := listPage[rule](r, "/api/rules")
	if err != nil {
		return r.fail(err)
	}
	return r.render(http.StatusOK, "rules", "rules", "Rules", struct {
		Rules []rule
		Next  string
	}{rules, next})
}

// ruleFormData is the new-rule form: a quick form (one event type, one
// channel, one message) or a whole definition as JSON.
type ruleFormData struct {
	Name, Type, ChannelID, Template string
	Enabled                         bool
	Definition                      jsonEditor
	Channels                        []channel
	Problem                         *apiError
	Fields                          map[string]string
}

func (r *request) channelList() ([]channel, error) {
	var p page[channel]
	err := r.api.get(r.ctx(), query("/api/channels", "limit", "200"), &p)
	return p.Data, err
}

// channelNames maps each channel's id to its name.
func channelNames(chs []channel) map[string]string {
	names := make(map[string]string, len(chs))
	for _, c := range chs {
		names[c.ID] = c.Name
	}
	return names
}

// pageAndChannels gets a page of path into p and the channel list at once
// (the list pages name each row's channel and filter by channel).
func (r *request) pageAndChannels(path string, p any) (chs []channel, err error) {
	err = parallel(
		func() error { return r.api.get(r.ctx(), path, p) },
		func() (err error) { chs, err = r.channelList(); return err },
	)
	return chs, err
}

func (s *Console) ruleNew(r *request) error {
	chs, err := r.channelList()
	if err != nil {
		return r.fail(err)
	}
	d := ruleFormData{Enabled: true, Type: "order.*", Channels: chs,
		Template: "{{.type}}: order {{.payload.orderId}} for {{.payload.amount}}"}
	return r.render(http.StatusOK, "rule_new", "rules", "New rule", d)
}

// builderField maps the API's field paths to the quick form's fields.
var builderField = map[string]string{
	"name":                            "name",
	"definition.match":                "type",
	"definition.match.type":           "type",
	"definition.actions[0].channelId": "channel",
	"definition.actions[0].template":  "template",
	"definition.actions":              "channel",
}

func (s *Console) ruleCreate(r *request) error {
	d := ruleFormData{Name: strings.TrimSpace(r.FormValue("name")), Type: strings.TrimSpace(r.FormValue("type")),
		ChannelID: r.FormValue("channelId"), Template: r.FormValue("template"), Enabled: r.FormValue("enabled") == "on",
		Fields: map[string]string{}}
	advanced := strings.TrimSpace(r.FormValue("definition"))
	var def json.RawMessage
	if advanced != "" {
		if e := checkJSON(advanced, "definition"); e != nil {
			return r.ruleFormProblem(d, advanced, e)
		}
		def = json.RawMessage(advanced)
	} else {
		b, err := json.Marshal(map[string]any{
			"match":   map[string]any{"type": d.Type},
			"actions": []map[string]string{{"channelId": d.ChannelID, "template": d.Template}},
		})
		if err != nil {
			return r.fail(err)
		}
		def = b
	}
	var created rule
	err := r.api.do(r.ctx(), http.MethodPost, "/api/rules",
		map[string]any{"name": d.Name, "enabled": d.Enabled, "definition": def}, &created)
	if ae := refused(err); ae != nil {
		return r.ruleFormProblem(d, advanced, ae)
	}
	if err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/rules/"+created.ID, "Rule “"+created.Name+"” created (version 1).")
}

func (r *request) ruleFormProblem(d ruleFormData, advanced string, e *apiError) error {
	chs, err := r.channelList()
	if err != nil {
		return r.fail(err)
	}
	d.Channels, d.Problem = chs, e
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	if advanced != "" {
		d.Definition = editorFor(advanced, "definition", e)
	} else {
		for _, f := range e.Errors {
			if k, ok := builderField[f.Field]; ok && d.Fields[k] == "" {
				d.Fields[k] = f.Message
			}
		}
	}
	return r.render(http.StatusUnprocessableEntity, "rule_new", "rules", "New rule", d)
}

// ruleData is the rule page: its definition editor, dry run, backtest and
// versions with a diff.
type ruleData struct {
	Rule        rule
	Versions    []ruleVersion
	Name        string
	Editor      jsonEditor
	EditProblem *apiError

	Sample      jsonEditor
	Test        *testResult
	TestProblem *apiError

	Since, Until    string
	Backtest        *backtestResult
	BacktestProblem *apiError

	From, To     int
	Diff         []diffLine
	DiffTooLarge bool
	Channels     map[string]string
}

func (r *request) ruleData(id string) (ruleData, error) {
	var d ruleData
	var vs page[ruleVersion]
	var chs []channel
	ctx := r.ctx()
	if err := r.api.get(ctx, "/api/rules/"+pathID(id), &d.Rule); err != nil {
		return d, err
	}
	err := parallel(
		func() error { return r.api.get(ctx, "/api/rules/"+pathID(id)+"/versions", &vs) },
		func() (err error) { chs, err = r.channelList(); return err },
	)
	if err != nil {
		return d, err
	}
	d.Versions, d.Name, d.Channels = vs.Data, d.Rule.Name, channelNames(chs)
	d.Editor = editorFor(string(d.Rule.Definition), "definition", nil)
	d.Sample = jsonEditor{Text: sampleEvent(d.Rule.Definition)}
	now := time.Now().UTC()
	d.Since, d.Until = now.Add(-7*24*time.Hour).Format("2006-01-02T15:04"), now.Add(time.Minute).Format("2006-01-02T15:04")
	d.To = d.Rule.Version
	d.From = max(d.To-1, 1)
	if f, err := strconv.Atoi(r.QueryParam("from")); err == nil {
		d.From = f
	}
	if t, err := strconv.Atoi(r.QueryParam("to")); err == nil {
		d.To = t
	}
	var from, to json.RawMessage
	for _, v := range d.Versions {
		if v.Version == d.From {
			from = v.Definition
		}
		if v.Version == d.To {
			to = v.Definition
		}
	}
	if from != nil && to != nil && d.From != d.To {
		d.Diff, _ = lineDiff(pretty(from), pretty(to))
		d.DiffTooLarge = d.Diff == nil
	}
	return d, nil
}

// sampleEvent is a starting point for a dry run: an event of the type the
// rule matches (globs filled in).
func sampleEvent(def json.RawMessage) string {
	var d struct {
		Match struct {
			Type string `json:"type"`
		} `json:"match"`
	}
	_ = json.Unmarshal(def, &d)
	t := strings.NewReplacer("**", "example", "*", "example").Replace(d.Match.Type)
	if t == "" {
		t = "example"
	}
	b, _ := json.MarshalIndent(map[string]any{"type": t, "source": "console", "payload": map[string]any{}}, "", "  ")
	return string(b)
}

// renderRule renders the rule page of d.
func (r *request) renderRule(status int, d ruleData) error {
	return r.render(status, "rule", "rules", "Rule "+d.Rule.Name, d)
}

func (s *Console) ruleDetail(r *request) error {
	d, err := r.ruleData(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	return r.renderRule(http.StatusOK, d)
}

func (s *Console) ruleUpdate(r *request) error {
	d, err := r.ruleData(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	d.Name = strings.TrimSpace(r.FormValue("name"))
	text := r.FormValue("definition")
	if e := checkJSON(text, "definition"); e != nil {
		d.Editor, d.EditProblem = editorFor(text, "definition", e), e
		return r.renderRule(http.StatusUnprocessableEntity, d)
	}
	var updated rule
	err = r.api.do(r.ctx(), http.MethodPut, "/api/rules/"+pathID(d.Rule.ID),
		map[string]any{"name": d.Name, "definition": json.RawMessage(text)}, &updated)
	if ae := refused(err); ae != nil {
		d.Editor, d.EditProblem = editorFor(text, "definition", ae), ae
		return r.renderRule(http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return r.fail(err)
	}
	msg := "Saved."
	if updated.Version != d.Rule.Version {
		msg = "Saved as version " + strconv.Itoa(updated.Version) + "."
	}
	return r.done(Prefix+"/rules/"+updated.ID, msg)
}

func (s *Console) ruleEnable(r *request) error {
	on := r.FormValue("enabled") == "true"
	var updated rule
	if err := r.api.do(r.ctx(), http.MethodPut, "/api/rules/"+pathID(r.Param("id")), map[string]any{"enabled": on}, &updated); err != nil {
		return r.fail(err)
	}
	msg := "Rule disabled: it matches nothing until enabled again."
	if on {
		msg = "Rule enabled."
	}
	return r.done(Prefix+"/rules/"+updated.ID, msg)
}

func (s *Console) ruleTest(r *request) error {
	d, err := r.ruleData(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	text := r.FormValue("event")
	if e := checkJSON(text, "event"); e != nil {
		d.Sample, d.TestProblem = editorFor(text, "event", e), e
		return r.renderRule(http.StatusUnprocessableEntity, d)
	}
	var res testResult
	err = r.api.do(r.ctx(), http.MethodPost, "/api/rules/test", map[string]any{"ruleId": d.Rule.ID, "event": json.RawMessage(text)}, &res)
	if ae := refused(err); ae != nil {
		d.Sample, d.TestProblem = editorFor(text, "event", ae), ae
		return r.renderRule(http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return r.fail(err)
	}
	res.name(d.Channels)
	d.Sample, d.Test = editorFor(text, "event", nil), &res
	return r.renderRule(http.StatusOK, d)
}

// backtestLimit caps the events one backtest from the console scans, so
// the page answers quickly; the API allows more.
const backtestLimit = 5000

func (s *Console) ruleBacktest(r *request) error {
	d, err := r.ruleData(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	d.Since, d.Until = r.FormValue("since"), r.FormValue("until")
	since, ok1 := localToRFC3339(d.Since)
	until, ok2 := localToRFC3339(d.Until)
	if !ok1 || !ok2 || since == "" || until == "" {
		d.BacktestProblem = &apiError{Status: 400, Detail: "Give the window as two dates and times (UTC)."}
		return r.renderRule(http.StatusUnprocessableEntity, d)
	}
	var res backtestResult
	err = r.api.do(r.ctx(), http.MethodPost, "/api/rules/backtest",
		map[string]any{"ruleId": d.Rule.ID, "since": since, "until": until, "limit": backtestLimit}, &res)
	if ae := refused(err); ae != nil {
		d.BacktestProblem = ae
		return r.renderRule(http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return r.fail(err)
	}
	d.Backtest = &res
	return r.renderRule(http.StatusOK, d)
}

func (s *Console) ruleRollback(r *request) error {
	v, _ := strconv.Atoi(r.FormValue("version"))
	var updated rule
	if err := r.api.do(r.ctx(), http.MethodPost, "/api/rules/"+pathID(r.Param("id"))+"/rollback", map[string]int{"version": v}, &updated); err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/rules/"+updated.ID, "Rolled back: version "+strconv.Itoa(updated.Version)+" has the definition of version "+strconv.Itoa(v)+".")
}

func (s *Console) ruleDelete(r *request) error {
	if err := r.api.do(r.ctx(), http.MethodDelete, "/api/rules/"+pathID(r.Param("id")), nil, nil); err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/rules", "Rule deleted.")
}
