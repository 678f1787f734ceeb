package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// telegramProvider calls the Bot API's sendMessage.
//
// The bot token is part of the request path, so net/http quotes it in every
// *url.Error: errors from here are rebuilt without the URL and scrubbed.
type telegramProvider struct {
	base   string // without trailing slash; default https://api.telegram.org
	client *http.Client
}

// telegramMaxText is the Bot API's limit on a message text (in characters).
const telegramMaxText = 4096

type telegramRequest struct {
	ChatID    any    `json:"chat_id"` // int64 for numeric ids, string for @channelusername
	Text      string `json:"text"`
	ParseMode string `json:"parse_mode,omitempty"`
}

type telegramResponse struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Result      struct {
		MessageID int64 `json:"message_id"`
	} `json:"result"`
	Parameters struct {
		RetryAfter      int64 `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// Send sends msg.Text to the configured chat.
func (p *telegramProvider) Send(ctx context.Context, cfg ChannelConfig, sec Secrets, msg Message) (Result, error) {
	if err := checkKind(KindTelegram, cfg, sec); err != nil {
		return Result{}, err
	}
	token := sec.Telegram.BotToken
	if token == "" || !botTokenRe.MatchString(token) {
		return Result{}, Permanent(errors.New("telegram bot token is missing or malformed"))
	}
	if msg.Text == "" {
		return Result{}, Permanent(errors.New("telegram message has no text"))
	}

	reqBody := telegramRequest{ChatID: cfg.Telegram.ChatID, Text: truncateRunes(msg.Text, telegramMaxText), ParseMode: cfg.Telegram.ParseMode}
	if n, err := strconv.ParseInt(cfg.Telegram.ChatID, 10, 64); err == nil {
		reqBody.ChatID = n
	}
	body, err := json.Marshal(reqBody)
	if err != nil {
		return Result{}, Permanent(fmt.Errorf("encode telegram request: %w", err))
	}
	// The token is validated above ([0-9]:[A-Za-z0-9_-]) so it needs no escaping.
	endpoint := p.base + "/bot" + token + "/sendMessage"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{}, Permanent(redact("build telegram request", err, token))
	}
	req.Header.Set("Content-Type", "application/json")

	res, rep, err := exchange(p.client, req, token)
	if err != nil {
		return res, Transient(redact("call telegram", netFailure(err), token), 0)
	}

	var tr telegramResponse
	parseErr := json.Unmarshal(rep.body, &tr)
	if rep.code == http.StatusOK && parseErr == nil && tr.OK {
		res.ProviderMessageID = strconv.FormatInt(tr.Result.MessageID, 10)
		return res, nil
	}
	if rep.code == http.StatusOK {
		// 200 without ok:true is not the Bot API talking (a captive proxy,
		// say): worth another try.
		return res, &SendError{StatusCode: rep.code, Err: errors.New("telegram answered 200 without ok:true")}
	}

	retryAfter := secondsRetryAfter(tr.Parameters.RetryAfter)
	if retryAfter == 0 && rep.code == http.StatusTooManyRequests {
		retryAfter = parseRetryAfter(rep.header.Get("Retry-After"), time.Now())
	}
	desc := scrub(tr.Description, token)
	if desc == "" {
		desc = rep.status
	}
	cause := fmt.Errorf("telegram error %d: %s", rep.code, truncateUTF8(desc, 200))
	if tr.Parameters.MigrateToChatID != 0 {
		cause = fmt.Errorf("%w (the group became a supergroup; set chatId to %d)", cause, tr.Parameters.MigrateToChatID)
	}
	return res, statusError(rep.code, retryAfter, cause)
}

// redact rebuilds err without the *url.Error layer (which quotes the URL)
// and with secret replaced anywhere in the remaining text, keeping the
// cause reachable for errors.Is (timeouts, context cancellation).
func redact(op string, err error, secret string) error {
	cause := err
	var uerr *url.Error
	if errors.As(err, &uerr) {
		cause = uerr.Err
	}
	msg := scrub(op+": "+cause.Error(), secret)
	if scrub(cause.Error(), secret) != cause.Error() {
		// The cause itself quotes the secret: do not expose it via Unwrap.
		return errors.New(msg)
	}
	return &redactedError{msg: msg, cause: cause}
}
