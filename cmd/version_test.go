package cmd

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-compiler", Value: "gc"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-27T09:00:00Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	platform := " go1.26.0 " + runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ld   linkStamp
		want string
	}{
		{"checkout, clean", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")},
			linkStamp{}, "autotag (devel) (0123456789ab 2026-11-27T09:00:00Z)"},
		{"checkout, dirty", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261127090000-0123456789ab+dirty"}, Settings: vcs("true")},
			linkStamp{}, "autotag v0.0.0-20261127090000-0123456789ab+dirty (0123456789ab+dirty 2026-11-27T09:00:00Z)"},
		{"vcs beats the link stamp", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")},
			linkStamp{"v9", "fedcba", "2020-01-01"}, "autotag v9 (0123456789ab 2026-11-27T09:00:00Z)"},
		{"go install pkg@version", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			linkStamp{}, "autotag v1.2.3"},
		{"no vcs, link stamp", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			linkStamp{"v1.2.4", "abcdef1234567890", "2026-12-01T10:00:00Z"}, "autotag v1.2.4 (abcdef123456 2026-12-01T10:00:00Z)"},
		{"no vcs, commit only", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			linkStamp{Commit: "abc123"}, "autotag (devel) (abc123)"},
		{"nothing", &debug.BuildInfo{GoVersion: "go1.26.0"}, linkStamp{},
			"autotag (devel) (commit unknown: built without VCS information or -ldflags stamps)"},
	} {
		got := describeBuild(tc.bi, tc.ld).String()
		if got != tc.want+platform {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want+platform)
		}
	}
	if got := describeBuild(nil, linkStamp{Commit: "abc"}); got.Revision != "abc" || got.Version != "(devel)" || got.Go != runtime.Version() {
		t.Errorf("no build info: %+v", got)
	}
}
