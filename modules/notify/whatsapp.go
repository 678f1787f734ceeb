package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// whatsAppProvider calls the WhatsApp Cloud API: POST
// {base}/{phone-number-id}/messages with a bearer token.
type whatsAppProvider struct {
	base   string // without trailing slash; default https://graph.facebook.com/v21.0
	client *http.Client
}

const whatsAppMaxText = 4096

// whatsAppTransientCodes are Graph API error codes that mean "later", even
// when they arrive with HTTP 400: throttling (4, 80007, 130429, 131048,
// 131056), temporary unavailability (1, 2, 131016) and timeouts.
var whatsAppTransientCodes = []int{1, 2, 4, 80007, 130429, 131016, 131048, 131056}

type whatsAppText struct {
	Body string `json:"body"`
}

type whatsAppLanguage struct {
	Code string `json:"code"`
}

type whatsAppParameter struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type whatsAppComponent struct {
	Type       string              `json:"type"`
	Parameters []whatsAppParameter `json:"parameters"`
}

type whatsAppTemplateBody struct {
	Name       string              `json:"name"`
	Language   whatsAppLanguage    `json:"language"`
	Components []whatsAppComponent `json:"components,omitempty"`
}

type whatsAppRequest struct {
	MessagingProduct string                `json:"messaging_product"`
	RecipientType    string                `json:"recipient_type"`
	To               string                `json:"to"`
	Type             string                `json:"type"`
	Text             *whatsAppText         `json:"text,omitempty"`
	Template         *whatsAppTemplateBody `json:"template,omitempty"`
}

type whatsAppResponse struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
	Error *struct {
		Message      string `json:"message"`
		Type         string `json:"type"`
		Code         int    `json:"code"`
		ErrorSubcode int    `json:"error_subcode"`
		ErrorData    struct {
			Details string `json:"details"`
		} `json:"error_data"`
		FBTraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

// Send sends msg as a text message, or as the configured template with
// msg.TemplateParams (see Message) as body parameters.
func (p *whatsAppProvider) Send(ctx context.Context, cfg ChannelConfig, sec Secrets, msg Message) (Result, error) {
	if err := checkKind(KindWhatsApp, cfg, sec); err != nil {
		return Result{}, err
	}
	wc := cfg.WhatsApp
	token := sec.WhatsApp.AccessToken
	if token == "" || strings.ContainsFunc(token, isSpaceOrControl) {
		return Result{}, Permanent(errors.New("whatsapp access token is missing or malformed"))
	}
	if !phoneNumberIDRe.MatchString(wc.PhoneNumberID) {
		return Result{}, Permanent(errors.New("whatsapp phoneNumberId is malformed"))
	}

	reqBody := whatsAppRequest{
		MessagingProduct: "whatsapp",
		RecipientType:    "individual",
		To:               strings.TrimPrefix(wc.To, "+"),
	}
	if t := wc.Template; t != nil {
		params := msg.TemplateParams
		if params == nil && msg.Text != "" {
			params = []string{msg.Text}
		}
		tb := &whatsAppTemplateBody{Name: t.Name, Language: whatsAppLanguage{Code: t.Language}}
		if len(params) > 0 {
			comp := whatsAppComponent{Type: "body"}
			for _, v := range params {
				comp.Parameters = append(comp.Parameters, whatsAppParameter{Type: "text", Text: v})
			}
			tb.Components = []whatsAppComponent{comp}
		}
		reqBody.Type = "template"
		reqBody.Template = tb
	} else {
		if msg.Text == "" {
			return Result{}, Permanent(errors.New("whatsapp message has no text"))
		}
		reqBody.Type = "text"
		reqBody.Text = &whatsAppText{Body: truncateRunes(msg.Text, whatsAppMaxText)}
	}
	body, err := json.Marshal(reqBody)
	if err != nil {
		return Result{}, Permanent(fmt.Errorf("encode whatsapp request: %w", err))
	}

	endpoint := p.base + "/" + url.PathEscape(wc.PhoneNumberID) + "/messages"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{}, Permanent(redact("build whatsapp request", err, token))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)

	res, rep, err := exchange(p.client, req, token)
	if err != nil {
		return res, Transient(redact("call whatsapp", netFailure(err), token), 0)
	}

	var wr whatsAppResponse
	parseErr := json.Unmarshal(rep.body, &wr)
	if rep.code >= 200 && rep.code < 300 {
		if parseErr != nil || len(wr.Messages) == 0 || wr.Messages[0].ID == "" {
			// Accepted but unreadable: sending again could duplicate, and
			// a 2xx is Meta's acceptance; report success without an id.
			return res, nil
		}
		res.ProviderMessageID = wr.Messages[0].ID
		return res, nil
	}

	retryAfter := parseRetryAfter(rep.header.Get("Retry-After"), time.Now())
	cause := fmt.Errorf("whatsapp responded %s", rep.status)
	if e := wr.Error; e != nil {
		detail := e.Message
		if e.ErrorData.Details != "" {
			detail += ": " + e.ErrorData.Details
		}
		cause = fmt.Errorf("whatsapp error %d (HTTP %d): %s", e.Code, rep.code, truncateUTF8(scrub(detail, token), 200))
		if slices.Contains(whatsAppTransientCodes, e.Code) {
			return res, &SendError{RetryAfter: retryAfter, StatusCode: rep.code, Err: cause}
		}
	}
	return res, statusError(rep.code, retryAfter, cause)
}
