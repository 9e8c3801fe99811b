package cmd

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/weights"
)

// TestServeRefusesOpenBindWithoutKey: a non-loopback --addr needs --api-key or
// --insecure, checked before the model loads.
func TestServeRefusesOpenBindWithoutKey(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--addr", "0.0.0.0:0", "--model", "/nonexistent.safetensors"},
		{"serve", "--addr", ":0", "--model", "/nonexistent.safetensors"},
	} {
		_, _, err := runCLI(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), "--api-key") {
			t.Errorf("%v: err %v, want a refusal naming --api-key", args, err)
		}
	}
	// With --insecure the bind check passes and the (missing) model is the error.
	if _, _, err := runCLI(t, "", "serve", "--addr", "0.0.0.0:0", "--insecure", "--model", "/nonexistent.safetensors"); err == nil || strings.Contains(err.Error(), "--api-key") {
		t.Errorf("--insecure: err %v, want a model error", err)
	}
}

func TestServeLogFlags(t *testing.T) {
	if _, err := newLogger("json", "debug"); err != nil {
		t.Error(err)
	}
	if _, err := newLogger("xml", "info"); err == nil {
		t.Error("--log-format xml accepted")
	}
	if _, err := newLogger("text", "loud"); err == nil {
		t.Error("--log-level loud accepted")
	}
}

// TestServeChecksNewFlagsBeforeLoading: --tls-cert without --tls-key, a bad
// --allowed-hosts entry and --metrics-auth without keys are refused before the
// model loads, given as flags or as AUTOTAG_* variables; all are in --help.
func TestServeChecksNewFlagsBeforeLoading(t *testing.T) {
	model := "/nonexistent.safetensors"
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--tls-cert", "/tmp/cert.pem"}, nil, "--tls-key"},
		{nil, map[string]string{"AUTOTAG_TLS_KEY": "/tmp/key.pem"}, "--tls-cert"},
		{[]string{"--allowed-hosts", "https://photos.lan/"}, nil, "allowed host"},
		{nil, map[string]string{"AUTOTAG_ALLOWED_HOSTS": "a.lan,http://b.lan"}, "allowed host"},
		{[]string{"--metrics-auth"}, nil, "--api-key"},
		{nil, map[string]string{"AUTOTAG_METRICS_AUTH": "true"}, "--api-key"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		_, _, err := runCLI(t, "", append([]string{"serve", "--model", model}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "nonexistent") {
			t.Errorf("%v %v: err %v, want a refusal naming %q before the model loads", c.args, c.env, err, c.want)
		}
		for k := range c.env {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	help, _, err := runCLI(t, "", "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--allowed-hosts", "--tls-cert", "--tls-key", "--metrics-auth", "--auth-failures", "--read-budget", "--body-grace", "--min-body-rate", "--max-conns", "--max-conns-per-client", "--max-streams", "AUTOTAG_MAX_CONNS", "AUTOTAG_ALLOWED_HOSTS", "AUTOTAG_TLS_CERT"} {
		if !strings.Contains(help, f) {
			t.Errorf("serve --help lacks %s", f)
		}
	}
}

// TestServeRefusesNaNModel: a model whose weights hold NaN is refused when serve
// starts (by the loader, or by the server's probe when a loader lets it through),
// instead of serving empty or NaN answers.
func TestServeRefusesNaNModel(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ts, err := tinymodel.Tensors(2)
	if err != nil {
		t.Fatal(err)
	}
	w, b := tinymodel.Linear(2, 2048, 5)
	ts["fc.weight"], ts["fc.bias"] = w, b
	model := filepath.Join(t.TempDir(), "nan.safetensors")
	if err := tinymodel.Save(model, weights.Metadata{Classes: []string{"a", "b"}, Activation: "sigmoid"}, ts); err != nil {
		t.Fatal(err)
	}
	if err := tinymodel.Poison(model, "fc.weight", 3, float32(math.NaN())); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := runCLI(t, "", "serve", "--addr", "127.0.0.1:0", "--model", model)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("serve started with a NaN model")
		}
		t.Logf("refused: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("serve is serving a NaN model")
	}
}
