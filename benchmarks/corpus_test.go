package benchmarks

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/stages/github"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
)

func generate(t *testing.T, seed int64, size int) *Corpus {
	t.Helper()
	c, err := GenerateCorpus(seed, size)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func normalize(t *testing.T, d Delivery) []observed.Observation {
	t.Helper()
	obs, err := github.Normalize(github.Input{Event: d.Event, Delivery: d.ID, ContentType: "application/json", Body: d.Body})
	if err != nil {
		t.Fatalf("%s delivery %s does not normalize: %v\n%s", d.Event, d.ID, err, d.Body)
	}
	return obs
}

func TestGenerateCorpusIsDeterministic(t *testing.T) {
	a, b, small, other := generate(t, 3, 300), generate(t, 3, 300), generate(t, 3, 50), generate(t, 4, 50)
	for i := range 300 {
		if !bytes.Equal(a.Delivery(i).Body, b.Delivery(i).Body) || a.Delivery(i).ID != b.Delivery(i).ID {
			t.Fatalf("payload %d differs between two corpora of one seed", i)
		}
	}
	for i := range 50 {
		if !bytes.Equal(a.Delivery(i).Body, small.Delivery(i).Body) {
			t.Fatalf("payload %d of a 50-payload corpus is not that of a 300-payload one", i)
		}
	}
	same := 0
	for i := range 50 {
		if bytes.Equal(other.Delivery(i).Body, small.Delivery(i).Body) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of 50 payloads equal under another seed", same)
	}
}

// TestGeneratedPayloadsAreRealistic checks every payload of a default-size
// corpus, as generated and as varied by a later pass: the webhook handler
// would accept it (signed, JSON object, delivery id usable in an RID), the
// normalizer turns it into observations, and sizes and the event mix are
// what the corpus documents.
func TestGeneratedPayloadsAreRealistic(t *testing.T) {
	c := generate(t, DefaultSeed, DefaultCorpusSize)
	n := c.Len()
	for i := range 2 * n {
		d := c.Delivery(i)
		if i < n {
			if !webhook.VerifySignature([][]byte{[]byte(BenchSecret)}, d.Signature, d.Body) {
				t.Fatalf("payload %d: signature does not verify", i)
			}
		}
		if err := ghwire.CheckDelivery(d.ID); err != nil {
			t.Fatalf("delivery id %q: %v", d.ID, err)
		}
		if err := ghwire.CheckEvent(d.Event); err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		if _, err := ghwire.DecodeBody("application/json", d.Body); err != nil {
			t.Fatalf("payload %d (%s) refused: %v", i, d.Event, err)
		}
		if len(d.Body) > MaxPayloadBytes {
			t.Fatalf("payload %d is %d bytes, over MaxPayloadBytes", i, len(d.Body))
		}
		if _, ok := EventWeights[d.Event]; !ok {
			t.Fatalf("payload %d has event %q, not in EventWeights", i, d.Event)
		}
		obs := normalize(t, d)
		if d.Event == "push" && !bytes.Contains(d.Body, []byte(`"deleted":true`)) {
			commits := 0
			for _, o := range obs {
				if strings.HasPrefix(o.RID, "orn:github.commit:") {
					commits++
				}
			}
			if commits == 0 {
				t.Fatalf("push %d yields no commit observations", i)
			}
		}
	}

	s := c.Stats(n)
	t.Logf("%d payloads: mean %.0f B, p50 %d B, p99 %d B, max %d B; %v", n, s.MeanBytes, s.P50Bytes, s.P99Bytes, s.MaxBytes, s.Events)
	for event, w := range EventWeights {
		share := 100 * float64(s.Events[event]) / float64(n)
		if share < float64(w)/2 || share > float64(w)*2+1 {
			t.Errorf("%s is %.1f%% of the corpus, weight %d%%", event, share, w)
		}
	}
	if s.P99Bytes < 20_000 || s.MaxBytes < 40_000 {
		t.Errorf("no tail: p99 %d B, max %d B", s.P99Bytes, s.MaxBytes)
	}
	if s.P50Bytes < 5_000 || s.MeanBytes > 15_000 {
		t.Errorf("sizes off: p50 %d B, mean %.0f B", s.P50Bytes, s.MeanBytes)
	}
}

// TestLaterPassesAreNewWork checks that a later pass over a generated pool
// keeps sizes and validity but makes new commits and changes entity
// contents, so ridify has new work instead of dropping repeats.
func TestLaterPassesAreNewWork(t *testing.T) {
	c := generate(t, 5, 200)
	changedRepos, newCommits := 0, 0
	for i := range c.Len() {
		first, second, third := c.Delivery(i), c.Delivery(i+c.Len()), c.Delivery(i+2*c.Len())
		if len(first.Body) != len(second.Body) || len(first.Body) != len(third.Body) {
			t.Fatalf("payload %d changes size between passes", i)
		}
		if bytes.Equal(first.Body, second.Body) || bytes.Equal(second.Body, third.Body) {
			t.Fatalf("payload %d does not change between passes", i)
		}
		if first.ID == second.ID {
			t.Fatalf("delivery id repeats")
		}
		if !bytes.Equal(c.Original(i+c.Len()).Body, first.Body) {
			t.Fatalf("Original varies the body")
		}
		a, b := contents(normalize(t, first)), contents(normalize(t, second))
		for rid, ca := range a {
			cb, ok := b[rid]
			switch {
			case strings.HasPrefix(rid, "orn:github.commit:") && !ok:
				newCommits++
			case strings.HasPrefix(rid, "orn:github.repo:") && ok && ca != cb:
				changedRepos++
			}
		}
	}
	if changedRepos < c.Len()/2 || newCommits == 0 {
		t.Errorf("second pass: %d repository observations changed, %d commits new; want most and some", changedRepos, newCommits)
	}
}

func contents(obs []observed.Observation) map[string]string {
	m := map[string]string{}
	for _, o := range obs {
		m[o.RID] = string(o.Contents)
	}
	return m
}

func TestPatchApply(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		pass     int
		want     string
	}{
		{"sha", `{"id":"a625406f6977d45c1391b078f4d3656e00000000"}`, 1, ""},
		{"iso time", `{"t":"2026-01-05T10:59:58Z"}`, 1, `{"t":"2026-01-05T10:59:59Z"}`},
		{"iso time wraps in the hour", `{"t":"2026-01-05T10:59:59Z"}`, 2, `{"t":"2026-01-05T10:00:01Z"}`},
		{"iso time with offset", `{"t":"2024-03-12T10:05:41+01:00"}`, 19, `{"t":"2024-03-12T10:06:00+01:00"}`},
		{"unix time", `{"pushed_at":1767609999}`, 1, `{"pushed_at":1767600000}`},
		{"zero sha untouched", `{"before":"0000000000000000000000000000000000000000"}`, 1, `{"before":"0000000000000000000000000000000000000000"}`},
		{"41 hex digits untouched", `{"x":"a625406f6977d45c1391b078f4d3656e000000001"}`, 1, `{"x":"a625406f6977d45c1391b078f4d3656e000000001"}`},
		{"integer id untouched", `{"id":761203458}`, 1, `{"id":761203458}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			for _, p := range findPatches(b) {
				p.apply(b, tc.pass)
			}
			if tc.want == "" {
				if string(b) == tc.in || !regexp.MustCompile(`^\{"id":"[0-9a-f]{40}"\}$`).Match(b) || string(b[:32]) != tc.in[:32] {
					t.Errorf("got %s", b)
				}
				return
			}
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
}

func TestLoadCorpus(t *testing.T) {
	c, err := LoadCorpus("../stages/github/testdata")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../stages/github/testdata/*.json")
	if c.Len() != len(files) {
		t.Fatalf("loaded %d payloads from %d files", c.Len(), len(files))
	}
	for i := range c.Len() {
		d, again := c.Delivery(i), c.Delivery(i+c.Len())
		if !bytes.Equal(d.Body, again.Body) || d.ID == again.ID || d.Event != again.Event {
			t.Fatalf("a folder corpus must cycle with fresh delivery ids only")
		}
		if bytes.ContainsAny(d.Body, "\n") {
			t.Fatalf("payload %d is not compact", i)
		}
		if !strings.HasPrefix(filepath.Base(files[i]), d.Event+".") {
			t.Fatalf("payload %d has event %q, file %s", i, d.Event, files[i])
		}
		normalize(t, d)
	}

	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"empty", map[string]string{"README.md": "# nothing"}},
		{"no event in the name", map[string]string{".json": "{}"}},
		{"invalid JSON", map[string]string{"push.bad.json": "{"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := LoadCorpus(dir); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestDeliveryIDsAreUniqueUUIDs(t *testing.T) {
	c := generate(t, 9, 10)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := range 200_000 {
		id := c.deliveryID(i)
		if seen[id] {
			t.Fatalf("delivery id %s repeats at %d", id, i)
		}
		seen[id] = true
		if i < 1000 && !uuid.MatchString(id) {
			t.Fatalf("%q is not a version 4 UUID", id)
		}
	}
}

func TestNearestRank(t *testing.T) {
	for _, tc := range []struct {
		values []int
		q      float64
		want   int
	}{
		{nil, 0.5, 0},
		{[]int{7}, 0.99, 7},
		{[]int{1, 2, 3, 4}, 0.5, 2},
		{[]int{1, 2, 3, 4, 5}, 0.5, 3},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1, 10},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0, 1},
	} {
		if got := nearestRank(tc.values, tc.q); got != tc.want {
			t.Errorf("nearestRank(%v, %v) = %d, want %d", tc.values, tc.q, got, tc.want)
		}
	}
}

func TestOrderedJSONRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../stages/github/testdata/*.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseOrdered(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out := appendJSON(nil, v)
		var a, b any
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("%s: output is not JSON: %v", f, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: round trip changes the value", f)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, raw)
		if len(out) > compact.Len() {
			t.Errorf("%s: %d bytes written, compact form has %d", f, len(out), compact.Len())
		}
		if v2, _ := parseOrdered(out); !bytes.Equal(appendJSON(nil, v2), out) {
			t.Errorf("%s: writing is not stable", f)
		}
	}
}

func TestOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"defaults", Options{}, ""},
		{"negative events", Options{Events: -1}, "events must be at least 1"},
		{"negative connections", Options{Connections: -2}, "connections must be at least 1"},
		{"missing corpus", Options{CorpusDir: "/nonexistent"}, "corpus"},
		{"corpus is a file", Options{CorpusDir: file}, "not a folder"},
		{"data dir is a file", Options{DataDir: file}, "not a folder"},
		{"data dir to be created", Options{DataDir: filepath.Join(t.TempDir(), "new")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.SetDefaults()
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.opts.Events == 0 && (o.Events != DefaultEvents || o.Connections != DefaultConnections || o.Seed != DefaultSeed || o.Logger == nil) {
					t.Errorf("defaults not set: %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
