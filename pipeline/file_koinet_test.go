package pipeline_test

import (
	"testing"

	"github.com/koistream/koistream/pipeline"
)

// TestFileKoiNetBodyBudget: koi_net.body_budget is checked where it is
// written: a budget that cannot hold the largest broadcast, or a value that
// is not a whole number, stops the node with the line and the key.
func TestFileKoiNetBodyBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"the largest broadcast", "koi_net:\n  body_budget: 32505856\n", ""},
		{"twice the default", "koi_net: {body_budget: 268435456}\n", ""},
		{"smaller than a broadcast", "koi_net:\n  body_budget: 1048576\n",
			`config.yaml:2: koi_net.body_budget must be 0 (the default, 134217728) or at least 32505856 bytes, the largest broadcast body, got 1048576`},
		{"negative", "koi_net: {body_budget: -1}\n",
			`config.yaml:1: koi_net.body_budget must be 0 (the default, 134217728) or at least 32505856 bytes, the largest broadcast body, got -1`},
		{"with a unit", "koi_net: {body_budget: 128MiB}\n",
			`config.yaml:1: koi_net.body_budget must be a whole number, got "128MiB"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := pipeline.ParseFile("config.yaml", []byte(tc.yaml))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}
