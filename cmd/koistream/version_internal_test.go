package main

import (
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	t.Parallel()
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	cases := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"tagged and clean", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: settings("GOOS", "linux", "GOARCH", "amd64", "vcs.revision", "0123abcd", "vcs.time", "2026-08-06T12:00:00Z", "vcs.modified", "false")},
			"koistream v1.2.3\nrevision 0123abcd\ncommitted 2026-08-06T12:00:00Z\nbuilt with go1.26.8 for linux/amd64\n"},
		{"checkout with changes", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("GOOS", "darwin", "GOARCH", "arm64", "vcs.revision", "0123abcd", "vcs.modified", "true")},
			"koistream (devel)\nrevision 0123abcd (modified)\nbuilt with go1.26.8 for darwin/arm64\n"},
		{"no VCS stamp", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("GOOS", "linux", "GOARCH", "amd64")},
			"koistream (devel)\nrevision unknown (built without VCS information)\nbuilt with go1.26.8 for linux/amd64\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := formatVersion(&c.info); got != c.want {
				t.Fatalf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}
