package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Link-time stamps for builds that carry no VCS information (a source tarball, a
// container build without .git, -buildvcs=false):
//
//	go build -ldflags "-X github.com/autotag/autotag/cmd.stampVersion=v1.2.3
//	  -X github.com/autotag/autotag/cmd.stampCommit=$(git rev-parse HEAD)
//	  -X github.com/autotag/autotag/cmd.stampTime=$(git log -1 --format=%cI)" ./cmd/autotag
//
// What the toolchain embeds wins where it has a value.
var stampVersion, stampCommit, stampTime string

// buildVersion describes this binary.
type buildVersion struct {
	Version  string `json:"version"`            // module version, "(devel)" for a checkout build
	Revision string `json:"revision,omitempty"` // VCS commit
	Time     string `json:"time,omitempty"`     // commit time
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`                 // Go version
	Platform string `json:"platform"`           // GOOS/GOARCH
}

// linkStamp is what -ldflags "-X" set (empty strings when nothing was).
type linkStamp struct{ Version, Commit, Time string }

// readBuildVersion describes the running binary.
func readBuildVersion() buildVersion {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return describeBuild(bi, linkStamp{stampVersion, stampCommit, stampTime})
}

// describeBuild combines the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo: the module version, and vcs.revision, vcs.time and
// vcs.modified when built in a checkout) with the link-time stamps, which fill in
// what the build information lacks. bi may be nil.
func describeBuild(bi *debug.BuildInfo, ld linkStamp) buildVersion {
	v := buildVersion{Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion
		}
		if bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = ld.Version
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Revision == "" {
		v.Revision, v.Time = ld.Commit, ld.Time
	}
	return v
}

// String is the one-line form, e.g. "autotag v1.2.3 (0123456789ab+dirty
// 2026-11-27T09:00:00Z) go1.26.0 linux/amd64". A build from a module download
// (go install …@v1.2.3) names no commit: its version identifies it. A build with
// neither says so rather than print nothing.
func (v buildVersion) String() string {
	s := "autotag " + v.Version
	rev := v.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if v.Modified {
		rev += "+dirty"
	}
	switch {
	case v.Revision != "" && v.Time != "":
		s += " (" + rev + " " + v.Time + ")"
	case v.Revision != "":
		s += " (" + rev + ")"
	case v.Version == "(devel)":
		s += " (commit unknown: built without VCS information or -ldflags stamps)"
	}
	return s + " " + v.Go + " " + v.Platform
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print autotag's version, commit and Go version",
		Long: `Print autotag's version, the commit it was built from (+dirty when the tree had
uncommitted changes), the commit time, the Go version and the platform. The commit
comes from the build information Go embeds in a checkout build; builds without it
can carry one with -ldflags "-X github.com/autotag/autotag/cmd.stampCommit=…"
(also stampVersion and stampTime).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := readBuildVersion()
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			_, err := fmt.Fprintln(c.OutOrStdout(), v)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
