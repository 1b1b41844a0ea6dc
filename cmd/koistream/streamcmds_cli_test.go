package main_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestStreamCommandsHelp: the help of replay, tail and publish lists their
// flags with the defaults, and the root help lists the commands.
func TestStreamCommandsHelp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{`(?m)^  replay +Print the events`, `(?m)^  tail +Follow`, `(?m)^  publish +Publish`}},
		{[]string{"replay", "--help"}, []string{
			`--pubsub string +.*\(default "127\.0\.0\.1:2069"\)`, `--path string +.*\(default "/"\)`, `--key string`,
			`--since string`, `--cursor string`, `--until string +.*default: now`,
		}},
		{[]string{"tail", "--help"}, []string{`--pubsub string +.*\(default "127\.0\.0\.1:2069"\)`, `--path string`, `--key string`, `SIGINT`}},
		{[]string{"publish", "--help"}, []string{`--pubsub string +.*\(default "127\.0\.0\.1:2069"\)`, `--path string`, `--git-hook`, `--repo-dir string`, `--timeout duration +.*\(default 30s\)`, `post-receive`}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			out, code := runCode(t, c.args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			for _, re := range c.want {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("help has no line matching %s:\n%s", re, out)
				}
			}
		})
	}
}

// TestStreamCommandsUsageErrors: through the binary, a usage mistake of
// the stream commands exits 2 with the error and the usage line, and
// contacts no node (the --pubsub given is a closed port).
func TestStreamCommandsUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"replay without since or cursor", []string{"replay"}, "Error: at least one of the flags in the group [since cursor] is required\nUsage: koistream replay (--since TIME | --cursor CURSOR) [--until TIME] [--path /p] [--key pattern] [flags]\nRun 'koistream replay --help' for the flags.\n"},
		{"replay with both", []string{"replay", "--since", "0", "--cursor", "c"}, "Error: if any flags in the group [since cursor] are set none of the others can be; [cursor since] were all set\nUsage: koistream replay (--since TIME | --cursor CURSOR) [--until TIME] [--path /p] [--key pattern] [flags]\nRun 'koistream replay --help' for the flags.\n"},
		{"replay bad since", []string{"replay", "--since", "noon"}, "Error: --since \"noon\" is neither an RFC 3339 time (2026-11-28T21:30:00Z) nor epoch seconds (1795368272 or 1795368272.5)\nUsage: koistream replay (--since TIME | --cursor CURSOR) [--until TIME] [--path /p] [--key pattern] [flags]\nRun 'koistream replay --help' for the flags.\n"},
		{"tail bad path", []string{"tail", "--path", "x"}, "Error: --path must start with \"/\", got \"x\"\nUsage: koistream tail [--path /p] [--key pattern] [flags]\nRun 'koistream tail --help' for the flags.\n"},
		{"publish without path", []string{"publish"}, "Error: --path is required (or --git-hook)\nUsage: koistream publish (--path /p | --git-hook [--path /p] [--repo-dir DIR]) [flags]\nRun 'koistream publish --help' for the flags.\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, code := runCode(t, append(c.args, "--pubsub", "127.0.0.1:1")...)
			if code != 2 || out != c.want {
				t.Fatalf("exit %d, output\n%q\nwant exit 2 and\n%q", code, out, c.want)
			}
		})
	}
}
