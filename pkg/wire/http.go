package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// HTTPRequest is an HTTP request a platform handed over as data: the Azure
// Functions host's httpTrigger binding, or a Lambda function URL event.
type HTTPRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Request returns it as a request the API handler can serve.
func (r HTTPRequest) Request() *http.Request {
	req, _ := http.NewRequest(r.Method, "http://ctsync.internal", bytes.NewReader(r.Body))
	req.URL.Path, req.RequestURI = r.Path, r.Path
	req.Header = r.Header
	return req
}

// FunctionsHTTPRequest reads an httpTrigger binding's value: the host sends
// Url, Method, Headers (name → values) and Body (a string, or the JSON
// itself when the body was JSON).
func FunctionsHTTPRequest(raw json.RawMessage) (HTTPRequest, error) {
	var b struct {
		URL     string              `json:"Url"`
		Method  string              `json:"Method"`
		Headers map[string][]string `json:"Headers"`
		Body    json.RawMessage     `json:"Body"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return HTTPRequest{}, fmt.Errorf("the request binding is not an HTTP request: %w", err)
	}
	u, err := url.Parse(b.URL)
	if err != nil || !strings.HasPrefix(u.Path, "/") {
		return HTTPRequest{}, fmt.Errorf("the request binding has no usable Url (%q)", b.URL)
	}
	method := strings.ToUpper(strings.TrimSpace(b.Method))
	if method == "" {
		return HTTPRequest{}, errors.New("the request binding has no Method")
	}
	body, err := functionsBody(b.Body)
	if err != nil {
		return HTTPRequest{}, err
	}
	h := http.Header{}
	for name, values := range b.Headers {
		for _, v := range values {
			h.Add(name, v)
		}
	}
	return HTTPRequest{Method: method, Path: u.Path, Header: h, Body: body}, nil
}

func functionsBody(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("the request body is not a JSON string: %w", err)
		}
		return []byte(s), nil
	}
	return raw, nil // the host passed a JSON body through as JSON
}

// FunctionURLRequest reads a Lambda function URL event (payload format 2.0).
func FunctionURLRequest(ev lambdaevents.LambdaFunctionURLRequest) (HTTPRequest, error) {
	method := strings.ToUpper(ev.RequestContext.HTTP.Method)
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if method == "" || !strings.HasPrefix(path, "/") {
		return HTTPRequest{}, errors.New("a function URL event without a method or a path")
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return HTTPRequest{}, fmt.Errorf("the body is marked base64 and is not: %w", err)
		}
		body = decoded
	}
	h := http.Header{}
	for name, v := range ev.Headers {
		h.Set(name, v) // function URLs join repeated headers with commas
	}
	return HTTPRequest{Method: method, Path: path, Header: h, Body: body}, nil
}
