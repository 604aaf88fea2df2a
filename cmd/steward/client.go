package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// client calls a running Steward server's JSON API. It is the small part of
// the API the command line needs.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// newClient returns a client for the server at base, authenticating with token.
func newClient(base, token string) (*client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q must be the server's URL, e.g. http://127.0.0.1:8080", base)
	}
	if token == "" {
		return nil, fmt.Errorf("no token: pass --token or set STEWARD_TOKEN (the operator token, or a user token for checks about that user)")
	}
	return &client{base: u, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// problem is an RFC 9457 error answer of the API.
type problem struct {
	Status int                  `json:"status"`
	Title  string               `json:"title"`
	Detail string               `json:"detail"`
	Code   string               `json:"code"`
	Errors []steward.FieldError `json:"errors"`
}

func (p *problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the server answered %d", p.Status)
	if p.Code != "" {
		fmt.Fprintf(&b, " %s", p.Code)
	}
	if msg := p.Detail; msg != "" || p.Title != "" {
		if msg == "" {
			msg = p.Title
		}
		fmt.Fprintf(&b, ": %s", msg)
	}
	for _, f := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// do sends a JSON request and decodes a JSON answer into out; an error
// answer becomes a *problem.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(path).String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("call %s: %w (is the server running there? see --server)", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("read the answer of %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		p := &problem{Status: resp.StatusCode}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasSuffix(mt, "json") {
			_ = json.Unmarshal(data, p)
		}
		if p.Title == "" && p.Detail == "" {
			p.Detail = http.StatusText(resp.StatusCode)
		}
		return p
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("the answer of %s is not the expected JSON: %w", c.base, err)
		}
	}
	return nil
}

// Check asks POST /v1/check.
func (c *client) Check(ctx context.Context, req steward.CheckRequest) (*steward.CheckResult, error) {
	var res steward.CheckResult
	if err := c.do(ctx, http.MethodPost, "/v1/check", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
