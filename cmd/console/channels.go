package console

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// chField is one input of a channel form. Name is the API's JSON path
// ("config.url", "secrets.botToken"), so the API's field errors land on it.
type chField struct {
	Name, Label, Type, Help string
	NewHelp                 string // shown when creating only
	Required                bool
	Secret                  bool // write-only: never filled in, blank keeps it
	Options                 []string
	Value, Error            string
}

// ID is the input's id attribute.
func (f chField) ID() string { return "ch-" + strings.NewReplacer(".", "-").Replace(f.Name) }

// channelKinds are the forms, one per kind (docs/channels.md).
var channelKinds = []struct {
	Kind, Label string
	Fields      []chField
}{
	{"webhook", "Webhook", []chField{
		{Name: "config.url", Label: "URL", Type: "url", Required: true, Help: "Deliveries are POSTed here, signed (Standard Webhooks)."},
		{Name: "secrets.signingSecret", Label: "Signing secret", Type: "password", Secret: true,
			Help: "A Standard Webhooks secret (whsec_…).", NewHelp: "Leave blank to have one generated (shown once)."},
	}},
	{"telegram", "Telegram", []chField{
		{Name: "config.chatId", Label: "Chat id", Required: true, Help: "A numeric chat id or @channelname."},
		{Name: "config.parseMode", Label: "Parse mode", Type: "select", Options: []string{"", "MarkdownV2", "HTML", "Markdown"}},
		{Name: "secrets.botToken", Label: "Bot token", Type: "password", Secret: true, Required: true},
	}},
	{"whatsapp", "WhatsApp", []chField{
		{Name: "config.phoneNumberId", Label: "Phone number id", Required: true},
		{Name: "config.to", Label: "Recipient (international number)", Required: true},
		{Name: "config.template.name", Label: "Approved template name", Help: "Optional: without it the message goes as text (24-hour window only)."},
		{Name: "config.template.language", Label: "Template language", Help: "e.g. en_US"},
		{Name: "secrets.accessToken", Label: "Access token", Type: "password", Secret: true, Required: true},
	}},
	{"email", "Email", []chField{
		{Name: "config.to", Label: "To", Type: "text", Required: true, Help: "One or more addresses, separated by commas."},
		{Name: "config.subject", Label: "Subject"},
		{Name: "config.from", Label: "From", Help: "Optional; default SMTP_FROM."},
		{Name: "config.smtpUrl", Label: "SMTP server URL", Help: "Optional; default SMTP_URL. smtp://user@host:587 (no password here)."},
		{Name: "secrets.smtpPassword", Label: "SMTP password", Type: "password", Secret: true},
	}},
}

func kindFields(kind string) ([]chField, string, bool) {
	for _, k := range channelKinds {
		if k.Kind == kind {
			fs := make([]chField, len(k.Fields))
			copy(fs, k.Fields)
			return fs, k.Label, true
		}
	}
	return nil, "", false
}

// fieldsOf is kindFields with what this server adds to the help: a
// webhook URL on localhost or a private network is refused unless
// WEBHOOK_ALLOW_PRIVATE is on.
func (s *Console) fieldsOf(kind string) ([]chField, string, bool) {
	fs, label, ok := kindFields(kind)
	for i := range fs {
		if fs[i].Name == "config.url" && s.opts.WebhookAddrAllowed != nil {
			fs[i].Help += " This server sends only to public addresses, not to localhost or a private network."
		}
	}
	return fs, label, ok
}

var indexSuffix = regexp.MustCompile(`\[\d+\]$`)

// channelForm is the create or edit form of one kind.
type channelForm struct {
	Channel   *channel // nil when creating
	Kind      string
	KindLabel string
	Name      string
	NameError string
	Fields    []chField
	Problem   *apiError
}

// fill sets the fields from a stored config (never the secrets).
func (f *channelForm) fill(config json.RawMessage) {
	var m map[string]any
	_ = json.Unmarshal(config, &m)
	for i := range f.Fields {
		path := strings.Split(strings.TrimPrefix(f.Fields[i].Name, "config."), ".")
		if !strings.HasPrefix(f.Fields[i].Name, "config.") {
			continue
		}
		var v any = m
		for _, p := range path {
			mm, _ := v.(map[string]any)
			v = mm[p]
		}
		switch x := v.(type) {
		case string:
			f.Fields[i].Value = x
		case []any:
			var ss []string
			for _, e := range x {
				if s, ok := e.(string); ok {
					ss = append(ss, s)
				}
			}
			f.Fields[i].Value = strings.Join(ss, ", ")
		}
	}
}

// read takes the form's values and builds the API body. Blank secrets are
// left out: on an update the stored ones are kept.
func (f *channelForm) read(r *request) map[string]any {
	f.Name = strings.TrimSpace(r.FormValue("name"))
	config, secrets := map[string]any{}, map[string]any{}
	for i := range f.Fields {
		fd := &f.Fields[i]
		v := strings.TrimSpace(r.FormValue(fd.Name))
		if !fd.Secret {
			fd.Value = v
		}
		if v == "" {
			continue
		}
		switch {
		case fd.Secret:
			secrets[strings.TrimPrefix(fd.Name, "secrets.")] = v
		case f.Kind == "email" && fd.Name == "config.to":
			var to []string
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					to = append(to, a)
				}
			}
			config["to"] = to
		case strings.HasPrefix(fd.Name, "config.template."):
			t, _ := config["template"].(map[string]any)
			if t == nil {
				t = map[string]any{}
				config["template"] = t
			}
			t[strings.TrimPrefix(fd.Name, "config.template.")] = v
		default:
			config[strings.TrimPrefix(fd.Name, "config.")] = v
		}
	}
	body := map[string]any{"name": f.Name, "kind": f.Kind, "config": config}
	if len(secrets) > 0 {
		body["secrets"] = secrets
	}
	return body
}

// problems places the API's field errors on the form's inputs.
func (f *channelForm) problems(e *apiError) {
	f.Problem = e
	for _, fe := range e.Errors {
		name := indexSuffix.ReplaceAllString(fe.Field, "")
		if name == "name" {
			f.NameError = fe.Message
		}
		for i := range f.Fields {
			if f.Fields[i].Name == name && f.Fields[i].Error == "" {
				f.Fields[i].Error = fe.Message
			}
		}
	}
}

func (s *Console) channels(r *request) error {
	chs, err := r.channelList()
	if err != nil {
		return r.fail(err)
	}
	type row struct {
		channel
		Target string
	}
	rows := make([]row, 0, len(chs))
	for _, c := range chs {
		rows = append(rows, row{c, channelTarget(c)})
	}
	return r.render(http.StatusOK, "channels", "channels", "Channels", struct {
		Rows  []row
		Kinds any
	}{rows, channelKinds})
}

// channelTarget summarises where a channel sends.
func channelTarget(c channel) string {
	var m map[string]any
	_ = json.Unmarshal(c.Config, &m)
	for _, k := range []string{"url", "chatId", "to"} {
		switch v := m[k].(type) {
		case string:
			return v
		case []any:
			var ss []string
			for _, e := range v {
				ss = append(ss, toString(e))
			}
			return strings.Join(ss, ", ")
		}
	}
	return ""
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func (s *Console) channelNew(r *request) error {
	kind := r.QueryParam("kind")
	fields, label, ok := s.fieldsOf(kind)
	if !ok {
		return r.render(http.StatusOK, "channel_kinds", "channels", "New channel", channelKinds)
	}
	return r.renderNewChannel(http.StatusOK, channelForm{Kind: kind, KindLabel: label, Fields: fields})
}

// privateURL is the field error for a webhook URL this server will not
// deliver to (a literal loopback or private address, or localhost), or
// "" when it may (a host name is only resolved when a delivery goes out).
func (s *Console) privateURL(raw string) string {
	allowed := s.opts.WebhookAddrAllowed
	u, err := url.Parse(raw)
	if allowed == nil || err != nil {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	a, err := netip.ParseAddr(host)
	if host != "localhost" && !strings.HasSuffix(host, ".localhost") && (err != nil || allowed(a)) {
		return ""
	}
	return "This server does not send webhooks to localhost or private network addresses. " +
		"To use a receiver on this machine, restart it with WEBHOOK_ALLOW_PRIVATE=true."
}

// checkURL puts privateURL's error on the form's URL field; false when
// there is one.
func (s *Console) checkURL(f *channelForm) bool {
	if f.Kind != "webhook" {
		return true
	}
	for i := range f.Fields {
		if f.Fields[i].Name == "config.url" {
			if msg := s.privateURL(f.Fields[i].Value); msg != "" {
				f.Fields[i].Error = msg
				f.Problem = &apiError{Status: http.StatusUnprocessableEntity, Detail: "The channel was not saved: see the URL below."}
				return false
			}
		}
	}
	return true
}

// renderNewChannel renders the form of a new channel of f's kind.
func (r *request) renderNewChannel(status int, f channelForm) error {
	return r.render(status, "channel_form", "channels", "New "+f.KindLabel+" channel", f)
}

func (s *Console) channelCreate(r *request) error {
	kind := r.FormValue("kind")
	fields, label, ok := s.fieldsOf(kind)
	if !ok {
		return r.render(http.StatusUnprocessableEntity, "channel_kinds", "channels", "New channel", channelKinds)
	}
	f := channelForm{Kind: kind, KindLabel: label, Fields: fields}
	body := f.read(r)
	if !s.checkURL(&f) {
		return r.renderNewChannel(http.StatusUnprocessableEntity, f)
	}
	var created channel
	err := r.api.do(r.ctx(), http.MethodPost, "/api/channels", body, &created)
	if ae := refused(err); ae != nil {
		f.problems(ae)
		return r.renderNewChannel(http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return r.fail(err)
	}
	if secret := created.Secrets["signingSecret"]; secret != "" {
		// Generated by the API: shown on this response only, never stored
		// by the console, never shown again.
		return r.render(http.StatusCreated, "channel_created", "channels", "Channel created", struct {
			Channel channel
			Secret  string
		}{created, secret})
	}
	return r.done(Prefix+"/channels/"+created.ID, "Channel “"+created.Name+"” created.")
}

type channelPage struct {
	channelForm
	Health     *channelHealth
	LastFailed *delivery
	Test       *channelTest
}

func (r *request) channelPage(id string) (channelPage, error) {
	var c channel
	var failed page[delivery]
	ctx := r.ctx()
	if err := r.api.get(ctx, "/api/channels/"+pathID(id), &c); err != nil {
		return channelPage{}, err
	}
	if err := r.api.get(ctx, query("/api/deliveries", "channelId", c.ID, "status", "failed", "limit", "1"), &failed); err != nil {
		return channelPage{}, err
	}
	fields, label, _ := r.s.fieldsOf(c.Kind)
	p := channelPage{channelForm: channelForm{Channel: &c, Kind: c.Kind, KindLabel: label, Name: c.Name, Fields: fields},
		Health: c.Health}
	p.fill(c.Config)
	if len(failed.Data) > 0 {
		p.LastFailed = &failed.Data[0]
	}
	return p, nil
}

// renderChannel renders the channel page of p.
func (r *request) renderChannel(status int, p channelPage) error {
	return r.render(status, "channel", "channels", "Channel "+p.Channel.Name, p)
}

func (s *Console) channelDetail(r *request) error {
	p, err := r.channelPage(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	return r.renderChannel(http.StatusOK, p)
}

func (s *Console) channelUpdate(r *request) error {
	p, err := r.channelPage(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	body := p.read(r)
	delete(body, "kind")
	if !s.checkURL(&p.channelForm) {
		return r.renderChannel(http.StatusUnprocessableEntity, p)
	}
	err = r.api.do(r.ctx(), http.MethodPut, "/api/channels/"+pathID(p.Channel.ID), body, nil)
	if ae := refused(err); ae != nil {
		p.problems(ae)
		return r.renderChannel(http.StatusUnprocessableEntity, p)
	}
	if err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/channels/"+p.Channel.ID, "Channel saved.")
}

// channelTest sends one real test message (POST /api/channels/{id}/test).
func (s *Console) channelTest(r *request) error {
	p, err := r.channelPage(r.Param("id"))
	if err != nil {
		return r.fail(err)
	}
	var res channelTest
	if err := r.api.do(r.ctx(), http.MethodPost, "/api/channels/"+pathID(p.Channel.ID)+"/test", nil, &res); err != nil {
		return r.fail(err)
	}
	p.Test = &res
	return r.renderChannel(http.StatusOK, p)
}

func (s *Console) channelDelete(r *request) error {
	if err := r.api.do(r.ctx(), http.MethodDelete, "/api/channels/"+pathID(r.Param("id")), nil, nil); err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/channels", "Channel deleted.")
}
