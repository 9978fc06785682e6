// Package apitest checks the API's answers against its OpenAPI document,
// for the tests of every host that serves it.
package apitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ctsync/ctsync/pkg/api"
)

var (
	once   sync.Once
	router routers.Router
	errDoc error
)

// Document loads and validates the OpenAPI document.
func Document(t testing.TB) routers.Router {
	t.Helper()
	once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPI)
		if err != nil {
			errDoc = err
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			errDoc = err
			return
		}
		doc.Servers = nil // answers from any host, under any base path (see Check)
		router, errDoc = legacy.NewRouter(doc)
	})
	if errDoc != nil {
		t.Fatalf("openapi.yaml: %v", errDoc)
	}
	return router
}

// Check fails the test unless the answer (status, headers, body) to
// method path is one the document describes for that operation. basePath
// is the host's prefix ("/api" under Azure Functions).
func Check(t testing.TB, method, path, basePath string, status int, header http.Header, body []byte) {
	t.Helper()
	if err := Validate(Document(t), method, path, basePath, status, header, body); err != nil {
		t.Fatal(err)
	}
}

// Validate is Check's verdict.
func Validate(r routers.Router, method, path, basePath string, status int, header http.Header, body []byte) error {
	u, err := url.Parse("http://ctsync.test" + strings.TrimPrefix(path, basePath))
	if err != nil {
		return err
	}
	req := &http.Request{Method: method, URL: u, Header: http.Header{}}
	route, params, err := r.FindRoute(req)
	if err != nil && status == http.StatusMethodNotAllowed {
		// A method the document does not list for a path it does: the
		// answer must say which methods are served.
		if header.Get("Allow") == "" || !strings.Contains(string(body), `"error"`) {
			return fmt.Errorf("405 to %s %s without Allow or an error: %v %s", method, path, header, body)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s is not in openapi.yaml: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	resp := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), resp); err != nil {
		return fmt.Errorf("%s %s answered %d, which openapi.yaml does not describe: %v\n%s", method, path, status, err, body)
	}
	return nil
}
