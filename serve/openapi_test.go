package serve

import (
	"bytes"
	"context"
	"image/color"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// TestOpenAPIContract validates the embedded openapi.yaml and then checks real
// responses of every endpoint — successes and each kind of error — against it.
func TestOpenAPIContract(t *testing.T) {
	spec, err := webFS.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	for _, ct := range []string{"text/html", "application/yaml"} {
		openapi3filter.RegisterBodyDecoder(ct, func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{perBatch: 200 * time.Millisecond}
	_, ts := newTestServer(t, Config{MaxBatch: 1, QueueSize: 2, BatchDelay: -1, Workers: 1}, eng)
	_, tsAuth := newTestServer(t, Config{APIKeys: []string{"key"}, RateLimit: 0.001, RateBurst: 1}, nil)

	jpg := solidJPEG(t, 20, 10, red)
	mpCT, mpBody := multipartBody(t, [3]string{"image", "a.jpg", string(jpg)}, [3]string{"image", "b.png", string(solidPNG(t, 5, 5, color.White))})
	type call struct {
		name, method, url, ct string
		body                  []byte
		header                map[string]string
		want                  int
	}
	calls := []call{
		{"raw jpeg", "POST", ts.URL + "/v1/tag?threshold=0.2&top_k=2", "image/jpeg", jpg, nil, 200},
		{"multipart", "POST", ts.URL + "/v1/tag", mpCT, mpBody.Bytes(), nil, 200},
		{"bad threshold", "POST", ts.URL + "/v1/tag?threshold=2", "image/jpeg", jpg, nil, 400},
		{"text body", "POST", ts.URL + "/v1/tag", "text/plain", []byte("hello"), nil, 415},
		{"garbage image", "POST", ts.URL + "/v1/tag", "image/jpeg", []byte("\xff\xd8\xff garbage"), nil, 422},
		{"model", "GET", ts.URL + "/v1/model", "", nil, nil, 200},
		{"healthz", "GET", ts.URL + "/healthz", "", nil, nil, 200},
		{"readyz", "GET", ts.URL + "/readyz", "", nil, nil, 200},
		{"metrics", "GET", ts.URL + "/metrics", "", nil, nil, 200},
		{"openapi", "GET", ts.URL + "/openapi.yaml", "", nil, nil, 200},
		{"page", "GET", ts.URL + "/", "", nil, nil, 200},
		{"no key", "POST", tsAuth.URL + "/v1/tag", "image/jpeg", jpg, nil, 401},
		{"with key", "GET", tsAuth.URL + "/v1/model", "", nil, map[string]string{"Authorization": "Bearer key"}, 200},
		{"rate limited", "GET", tsAuth.URL + "/v1/model", "", nil, map[string]string{"Authorization": "Bearer key"}, 429},
	}
	check := func(c call, resp *http.Response, body []byte) {
		t.Helper()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d: %.300s", c.name, resp.StatusCode, c.want, body)
			return
		}
		req, _ := http.NewRequest(c.method, resp.Request.URL.RequestURI(), nil)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s: no route in openapi.yaml for %s %s: %v", c.name, c.method, req.URL.Path, err)
			return
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		in.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
			t.Errorf("%s: response does not match openapi.yaml: %v\nbody: %.300s", c.name, err, body)
		}
	}
	for _, c := range calls {
		req, _ := http.NewRequest(c.method, c.url, bytes.NewReader(c.body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(c, resp, body)
	}

	// 503 from a full queue: one image running, two queued, the fourth refused.
	done := make(chan struct{})
	for i := 0; i < 3; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			if resp, err := http.Post(ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(jpg)); err == nil {
				resp.Body.Close()
			}
		}()
		time.Sleep(40 * time.Millisecond)
	}
	c := call{"queue full", "POST", ts.URL + "/v1/tag", "image/jpeg", jpg, nil, 503}
	resp, err := http.Post(c.url, c.ct, bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check(c, resp, body)
	for i := 0; i < 3; i++ {
		<-done
	}
}
