package main_test

import (
	"debug/buildinfo"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// runCode runs a one-shot koistream command and returns its combined
// output and exit code.
func runCode(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := runBinary(t, args...)
	if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
		return out, exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("koistream %v: %v", args, err)
	}
	return out, 0
}

// TestHelpListsFlagsWithDefaults: --help of the root and of every command
// exits 0 and lists every flag, with its default where it has one.
func TestHelpListsFlagsWithDefaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want []string // regular expressions, each on one line of the help
	}{
		{[]string{"--help"}, []string{`(?m)^  serve +Run a node`, `(?m)^  rebuild +`, `(?m)^  identity +`, `(?m)^  bench +`, `(?m)^  version +`, `(?m)^  completion +`}},
		{[]string{"serve", "--help"}, []string{
			`--config string +YAML configuration file`,
			`--data-dir string +.*\(default "\./data"\)`,
			`--listen string +.*\(default "127\.0\.0\.1:8002"\)`,
			`--brokers string +.*empty runs the embedded broker`,
			`--kafka-listen string +.*\(default "127\.0\.0\.1:9092"\)`,
			`--partitions int +.*\(default 8\)`,
			`--topic-prefix string +.*\(default "koistream\."\)`,
			`--log-level string +.*\(default "info"\)`,
			`--log-format string +.*\(default "text"\)`,
		}},
		{[]string{"rebuild", "--help"}, []string{`--data-dir string +.*\(default "\./data"\)`}},
		{[]string{"identity", "--help"}, []string{
			`--data-dir string +.*\(default "\./data"\)`,
			`--name string +.*\(default "github-sensor"\)`,
			// base_url has no fixed default: it follows --listen and the
			// config's server.path, as serve's does (the help says so).
			`(?m)--base-url string +.*overrides koi_net\.node_profile\.base_url$`,
			`--listen string +.*\(default "127\.0\.0\.1:8002"\)`,
		}},
		{[]string{"bench", "--help"}, []string{
			`--events int +.*\(default \d+\)`,
			`--connections int +.*\(default \d+\)`,
			`--seed int +.*\(default \d+\)`,
			`--corpus string +.*default: a generated corpus`,
			`--data-dir string +.*default: a temporary folder`,
			`--json +print one JSON object`,
			`--log-level string +.*\(default "info"\)`,
		}},
		{[]string{"help", "serve"}, []string{`--listen string`}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			out, code := runCode(t, c.args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, out)
			}
			for _, re := range c.want {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("help has no line matching %s:\n%s", re, out)
				}
			}
		})
	}
}

// TestUsageErrors: an unknown command or flag, a bad flag value or a stray
// argument exits 2 with the error and the command's usage line, and runs
// nothing.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string // the whole output
	}{
		{"unknown command", []string{"nope"},
			"Error: unknown command \"nope\" for \"koistream\"\nUsage: koistream <command> [flags]\nRun 'koistream --help' for the flags.\n"},
		{"mistyped command", []string{"serv"},
			"Error: unknown command \"serv\" for \"koistream\"\n\nDid you mean this?\n\tserve\n\nUsage: koistream <command> [flags]\nRun 'koistream --help' for the flags.\n"},
		{"unknown root flag", []string{"--nope"},
			"Error: unknown flag: --nope\nUsage: koistream <command> [flags]\nRun 'koistream --help' for the flags.\n"},
		{"unknown serve flag", []string{"serve", "--data-dri", "x"},
			"Error: unknown flag: --data-dri\nUsage: koistream serve [flags]\nRun 'koistream serve --help' for the flags.\n"},
		{"flag without value", []string{"rebuild", "--data-dir"},
			"Error: flag needs an argument: --data-dir\nUsage: koistream rebuild [flags]\nRun 'koistream rebuild --help' for the flags.\n"},
		{"bad number", []string{"serve", "--partitions", "many"},
			"Error: invalid argument \"many\" for \"--partitions\" flag: strconv.ParseInt: parsing \"many\": invalid syntax\nUsage: koistream serve [flags]\nRun 'koistream serve --help' for the flags.\n"},
		{"stray argument", []string{"rebuild", "now"},
			"Error: unknown command \"now\" for \"koistream rebuild\"\nUsage: koistream rebuild [flags]\nRun 'koistream rebuild --help' for the flags.\n"},
		{"bad log level", []string{"serve", "--log-level", "loud"},
			"Error: log level \"loud\": slog: level string \"loud\": unknown name\nUsage: koistream serve [flags]\nRun 'koistream serve --help' for the flags.\n"},
		{"unknown completion shell", []string{"completion", "tcsh"},
			"Error: unknown command \"tcsh\" for \"koistream completion\"\nUsage: koistream completion [flags]\nRun 'koistream completion --help' for the flags.\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, code := runCode(t, c.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, out)
			}
			if out != c.want {
				t.Fatalf("output\n%q\nwant\n%q", out, c.want)
			}
		})
	}
}

// TestVersion: koistream version reports what the Go toolchain recorded in
// the binary: module version, VCS revision (or that there is none) and Go.
func TestVersion(t *testing.T) {
	t.Parallel()
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	out, code := runCode(t, "version")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want := []string{"koistream " + info.Main.Version + "\n", "built with " + info.GoVersion + " for "}
	rev := "revision unknown"
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			rev = "revision " + s.Value
		}
	}
	want = append(want, rev)
	// In a git checkout the build must carry the checkout's revision;
	// elsewhere (a source archive, a git worktree, which the go command does
	// not stamp) there is none to compare with.
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && rev == "revision unknown" {
		if gitDir, err := exec.Command("git", "rev-parse", "--git-dir").Output(); err == nil && !strings.Contains(string(gitDir), "/worktrees/") {
			t.Errorf("the binary carries no VCS revision though it was built in a git checkout at %s", strings.TrimSpace(string(head)))
		}
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("version output lacks %q:\n%s", w, out)
		}
	}
	if !strings.HasPrefix(out, "koistream ") {
		t.Errorf("version output does not start with the name:\n%s", out)
	}
}

// TestCompletion: cobra's completion command writes a script for each shell.
func TestCompletion(t *testing.T) {
	t.Parallel()
	cases := []struct{ shell, want string }{
		{"bash", "__start_koistream"},
		{"zsh", "#compdef koistream"},
		{"fish", "complete -c koistream"},
	}
	for _, c := range cases {
		t.Run(c.shell, func(t *testing.T) {
			t.Parallel()
			out, code := runCode(t, "completion", c.shell)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, output lacks %q:\n%.400s", code, c.want, out)
			}
		})
	}
}
