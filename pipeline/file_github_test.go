package pipeline_test

import (
	"slices"
	"testing"

	"github.com/koistream/koistream/pipeline"
)

// TestParseTokens: GITHUB_TOKEN may hold several tokens, comma-separated,
// used in turn; blanks around and between them are dropped.
func TestParseTokens(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"ghp_a", []string{"ghp_a"}},
		{" ghp_a , ghp_b,,", []string{"ghp_a", "ghp_b"}},
	} {
		if got := pipeline.ParseTokens(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseTokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
