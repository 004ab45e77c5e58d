package jobclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client sends requests to the API with the job's key.
type Client struct {
	base, key string
	http      *http.Client
}

// NewClient returns a client for cfg's API.
func NewClient(cfg Config) *Client {
	return &Client{base: cfg.URL, key: cfg.APIKey, http: &http.Client{Timeout: cfg.Timeout}}
}

// Answer is the API's response to a request.
type Answer struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// Code is the error code of an error answer ("" for none).
func (a Answer) Code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.Body, &e)
	return e.Error.Code
}

// Message is the error message of an error answer, or its status.
func (a Answer) Message() string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Details []struct {
				Field, Message string
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.Body, &e)
	msg := e.Error.Message
	if msg == "" {
		msg = http.StatusText(a.Status)
	}
	for _, d := range e.Error.Details {
		// The message names the first field already ("location the
		// backup has no r2 copy"): each detail is said once.
		if detail := d.Field + " " + d.Message; !strings.Contains(msg, detail) {
			msg += "; " + detail
		}
	}
	return fmt.Sprintf("%d %s", a.Status, msg)
}

// TransientError is a failure worth retrying: the API could not be reached,
// timed out, or answered 5xx, 429 or 409 idempotency_key_in_use.
type TransientError struct {
	Err        error
	RetryAfter time.Duration // from Retry-After, when the API said
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// RefusedError is a 4xx answer: the API will not take this request as it
// is, and sending it again will not change that.
type RefusedError struct{ Answer Answer }

func (e *RefusedError) Error() string { return "refused: " + e.Answer.Message() }

// IsTransient reports whether err is worth retrying later.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// Do sends method path with body (nil for none) and an Idempotency-Key
// (when key is not ""). A 2xx answer is returned; anything else is a
// *TransientError or a *RefusedError.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, key string) (Answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("User-Agent", "backupwatch-job")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, ctx.Err()
		}
		return Answer{}, &TransientError{Err: fmt.Errorf("%s %s: %w", method, path, err)}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	if err != nil {
		return Answer{}, &TransientError{Err: fmt.Errorf("%s %s: reading the answer: %w", method, path, err)}
	}
	a := Answer{Status: resp.StatusCode, Body: out}
	switch {
	case a.Status >= 200 && a.Status < 300:
		return a, nil
	case a.Status >= 500, a.Status == http.StatusTooManyRequests, a.Status == http.StatusRequestTimeout,
		a.Status == http.StatusConflict && a.Code() == "idempotency_key_in_use":
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return a, &TransientError{Err: fmt.Errorf("%s %s: %s", method, path, a.Message()), RetryAfter: time.Duration(ra) * time.Second}
	default:
		return a, &RefusedError{Answer: a}
	}
}

// JSON sends v as JSON and decodes the answer into out (when not nil).
func (c *Client) JSON(ctx context.Context, method, path string, v, out any) error {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return err
		}
	}
	a, err := c.Do(ctx, method, path, body, "")
	if err != nil {
		return err
	}
	if out != nil {
		return json.Unmarshal(a.Body, out)
	}
	return nil
}
