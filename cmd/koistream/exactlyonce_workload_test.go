package main_test

// The deliveries of the exactly-once tests (exactlyonce_test.go): entity
// contents that never repeat between deliveries, redeliveries, and senders
// that record which deliveries were answered 202.

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics/topicstest"
)

// sent is one delivery of a workload and the event RID it must produce.
type sent struct {
	d   delivery
	rid string
}

// deliveryKind is one kind of delivery a workload makes: a testdata
// payload and how to make its entities this delivery's own.
type deliveryKind struct {
	file   string // in stages/github/testdata; the event is the name's first part
	weight int
	edit   func(w *workload, p map[string]any, fullName, id string)
}

// deliveryKinds are the deliveries of the exactly-once tests. Every
// delivery carries its own repository object and (for issues and pull
// requests) its own entity, with the delivery id in a text field, so no two
// deliveries observe an entity with the same contents: in whatever order
// the stages see them, each (RID, sha256_hash) pair is announced once and
// only a duplicate can repeat one. Commits come from a small pool with
// fixed contents, so re-observations that must announce nothing are in the
// mix too. Issues are deleted now and then, so a RID may be announced NEW
// again after its FORGET.
var deliveryKinds = []deliveryKind{
	{"issues.opened.json", 3, editIssue},
	{"issues.deleted.json", 1, editIssue},
	{"issue_comment.created.json", 2, editIssue},
	{"pull_request.opened.json", 2, func(w *workload, p map[string]any, _, id string) {
		pr := p["pull_request"].(map[string]any)
		pr["number"] = json.Number(strconv.Itoa(100 + w.rng.IntN(2)))
		pr["title"] = "pull request as delivery " + id + " saw it"
	}},
	{"push.multiple-commits.json", 2, func(w *workload, p map[string]any, fullName, _ string) {
		template := p["commits"].([]any)[0].(map[string]any)
		var commits []any
		for _, k := range w.rng.Perm(commitPool)[:2] {
			c := cloneMap(template)
			sha := commitSHA(fullName, k)
			c["id"] = sha
			c["message"] = fmt.Sprintf("commit %d of %s", k, fullName)
			c["url"] = "https://github.com/" + fullName + "/commit/" + sha
			commits = append(commits, c)
		}
		p["commits"] = commits
		p["head_commit"] = cloneMap(commits[len(commits)-1].(map[string]any))
		p["after"] = commits[len(commits)-1].(map[string]any)["id"]
	}},
	{"star.created.json", 1, nil},
}

const (
	repoCount  = 3 // repositories koi-garden/pond-0..2
	issueCount = 3 // issues 1..3 of each
	commitPool = 6 // commits of each repository pushes pick from
)

func editIssue(w *workload, p map[string]any, _, id string) {
	issue := p["issue"].(map[string]any)
	issue["number"] = json.Number(strconv.Itoa(1 + w.rng.IntN(issueCount)))
	issue["title"] = "issue as delivery " + id + " saw it"
	delete(issue, "pull_request")
}

func commitSHA(fullName string, k int) string {
	s := sha1.Sum([]byte(fmt.Sprintf("%s/%d", fullName, k)))
	return hex.EncodeToString(s[:])
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// workload makes deliveries and keeps track of the ones answered 202.
// Safe for concurrent use.
type workload struct {
	t         *testing.T
	templates [][]byte       // per deliveryKinds entry
	repo      map[string]any // the repository object every delivery starts from

	mu      sync.Mutex
	rng     *rand.Rand
	created []*sent
	acked   map[string]bool // delivery id → answered 202 at least once
	posts   int
	refused []string // answers other than 202 and 503, reported by checkExactlyOnce
}

func newWorkload(t *testing.T, seed uint64) *workload {
	t.Helper()
	w := &workload{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), acked: map[string]bool{}}
	for _, k := range deliveryKinds {
		b, err := os.ReadFile(filepath.Join(testdata, k.file))
		if err != nil {
			t.Fatal(err)
		}
		w.templates = append(w.templates, b)
	}
	w.repo = decodeObject(t, w.templates[0])["repository"].(map[string]any)
	return w
}

func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // ids stay as GitHub wrote them
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fresh makes n new deliveries.
func (w *workload) fresh(n int) []*sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	for _, k := range deliveryKinds {
		total += k.weight
	}
	out := make([]*sent, 0, n)
	for range n {
		pick := w.rng.IntN(total)
		i := 0
		for pick >= deliveryKinds[i].weight {
			pick -= deliveryKinds[i].weight
			i++
		}
		k := deliveryKinds[i]
		id := newDeliveryID()
		fullName := fmt.Sprintf("koi-garden/pond-%d", w.rng.IntN(repoCount))
		p := decodeObject(w.t, w.templates[i])
		repo := cloneMap(w.repo)
		repo["full_name"] = fullName
		repo["name"] = strings.TrimPrefix(fullName, "koi-garden/")
		repo["html_url"] = "https://github.com/" + fullName
		repo["description"] = "repository as delivery " + id + " saw it"
		p["repository"] = repo
		if k.edit != nil {
			k.edit(w, p, fullName, id)
		}
		body, err := json.Marshal(p)
		if err != nil {
			w.t.Fatal(err)
		}
		event, _, _ := strings.Cut(k.file, ".")
		s := &sent{d: delivery{event: event, id: id, contentType: "application/json", body: body}, rid: eventRID(fullName, id)}
		w.created = append(w.created, s)
		out = append(out, s)
	}
	return out
}

// redeliveries picks n deliveries made earlier, as GitHub's "redeliver"
// sends them: same id, same body.
func (w *workload) redeliveries(n int) []*sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*sent
	for range n {
		if len(w.created) == 0 {
			break
		}
		out = append(out, w.created[w.rng.IntN(len(w.created))])
	}
	return out
}

// unacked returns the deliveries not yet answered 202, which GitHub would
// send again.
func (w *workload) unacked() []*sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*sent
	seen := map[string]bool{}
	for _, s := range w.created {
		if !w.acked[s.d.id] && !seen[s.d.id] {
			seen[s.d.id] = true
			out = append(out, s)
		}
	}
	return out
}

// burst is one round of traffic: the deliveries not yet acknowledged, n new
// ones and about n/4 redeliveries of earlier ones, shuffled.
func (w *workload) burst(n int) []*sent {
	out := append(w.unacked(), w.redeliveries(n/4)...)
	out = append(out, w.fresh(n)...)
	w.mu.Lock()
	w.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	w.mu.Unlock()
	return out
}

// ackedRIDs returns the event RIDs of the acknowledged deliveries.
func (w *workload) ackedRIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, s := range w.created {
		if w.acked[s.d.id] && !seen[s.rid] {
			seen[s.rid] = true
			out = append(out, s.rid)
		}
	}
	return out
}

func (w *workload) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// webhookClient posts deliveries; a node killed mid-request fails the
// request rather than hanging it.
var webhookClient = &http.Client{Timeout: 30 * time.Second}

// deliver posts s to the node at addr and reports whether it answered 202.
// A failed request is not an error: the node may have been killed.
func (w *workload) deliver(ctx context.Context, addr string, s *sent) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/github/webhook", bytes.NewReader(s.d.body))
	if err != nil {
		panic(err) // the address is ours
	}
	req.Header.Set("Content-Type", s.d.contentType)
	req.Header.Set("X-GitHub-Event", s.d.event)
	req.Header.Set("X-GitHub-Delivery", s.d.id)
	req.Header.Set("User-Agent", "GitHub-Hookshot/exactlyonce")
	req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(testSecret), s.d.body))
	resp, err := webhookClient.Do(req)
	w.mu.Lock()
	w.posts++
	w.mu.Unlock()
	if err != nil {
		return false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
		w.mu.Lock()
		w.acked[s.d.id] = true
		w.mu.Unlock()
		return true
	case http.StatusServiceUnavailable:
		return false // shutting down
	default:
		// Not t.Errorf: senders may outlive a test that failed.
		w.mu.Lock()
		w.refused = append(w.refused, fmt.Sprintf("delivery %s: status %d, body %.200s", s.d.id, resp.StatusCode, body))
		w.mu.Unlock()
		return false
	}
}

// send posts ds with workers goroutines, each to the address target gives
// for it (empty: none alive, the delivery is skipped), and calls onAck
// after every 202 with the number of 202s so far in this call.
func (w *workload) send(ds []*sent, workers int, target func(i int) string, onAck func(acks int)) {
	var next, acks atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ds) {
					return
				}
				addr := target(i)
				if addr == "" {
					continue
				}
				if w.deliver(context.Background(), addr, ds[i]) && onAck != nil {
					onAck(int(acks.Add(1)))
				}
			}
		})
	}
	wg.Wait()
}

// sendUntilAcked delivers every delivery not yet answered 202 until each
// is, as GitHub retries failed deliveries, failing t after d.
func (w *workload) sendUntilAcked(t *testing.T, d time.Duration, target func(i int) string) {
	t.Helper()
	topicstest.WaitFor(t, d, "every delivery answered 202", func() bool {
		left := w.unacked()
		if len(left) == 0 {
			return true
		}
		w.send(left, 4, target, nil)
		return len(w.unacked()) == 0
	})
}
