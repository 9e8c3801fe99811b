package cmd

import (
	"strings"
	"testing"
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
