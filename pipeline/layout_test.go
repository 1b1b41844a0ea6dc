package pipeline_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// module is the import path every package of the repository starts with.
const module = "github.com/koistream/koistream/"

// TestDependenciesPointOneWay holds the layout docs/ARCHITECTURE.md draws:
// cmd → pipeline → stages, projections, replay → topics, and a source's
// intake never importing a stage (it shares its wire format with its parser
// through a package under topics). It reads the real import graph with
// `go list`, so a new import against the direction fails here, not in a
// review.
func TestDependenciesPointOneWay(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// Each rule: packages whose path (below the module) starts with from
	// must not import any package starting with one of the forbidden
	// prefixes.
	rules := []struct {
		from      string
		forbidden []string
	}{
		{"topics", []string{"stages", "projections", "replay", "pipeline", "cmd", "benchmarks"}},
		{"stages", []string{"projections", "replay", "pipeline", "cmd", "benchmarks"}},
		{"projections", []string{"stages", "replay", "pipeline", "cmd", "benchmarks"}},
		{"replay", []string{"stages", "pipeline", "cmd", "benchmarks"}},
		{"pipeline", []string{"cmd", "benchmarks"}},
		{"pipeline/webhook", []string{"stages"}},
		{"topics/koi", []string{"topics/github", "stages/github"}},
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(fields[0], module)
		for _, r := range rules {
			if pkg != r.from && !strings.HasPrefix(pkg, r.from+"/") {
				continue
			}
			checked++
			for _, imp := range fields[1:] {
				dep, ours := strings.CutPrefix(imp, module)
				if !ours {
					continue
				}
				for _, f := range r.forbidden {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%s imports %s: %s must not depend on %s", pkg, dep, r.from, f)
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d packages; go list printed:\n%s", checked, out)
	}
}
