package yamlconf

import "testing"

func TestNearest(t *testing.T) {
	t.Parallel()
	known := []string{"server", "koi_net", "env", "github", "koistream", "monitored_repositories", "repositories", "partitions", "api_url", "port", "path"}
	cases := []struct{ key, want string }{
		{"servr", "server"},
		{"Server", "server"},
		{"koi-net", "koi_net"},
		{"partitons", "partitions"},
		{"partitoins", "partitions"}, // a swap
		{"monitored_repos", "monitored_repositories"},
		{"repos", "repositories"},
		{"api-url", "api_url"},
		{"xyz", ""},
		{"hostname", ""},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			if got := nearest(c.key, known); got != c.want {
				t.Fatalf("nearest(%q) = %q, want %q", c.key, got, c.want)
			}
		})
	}
}
