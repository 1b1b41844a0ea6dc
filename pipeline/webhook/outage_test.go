package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestOutageKeepsBudgetHeld: a delivery answered 503 because the log did
// not confirm it in time is still held by the log client for retry, so its
// body keeps its share of the budget until the record is written or
// refused; during a long outage the budget then refuses new bodies instead
// of letting records pile up in memory. Before, the share was given back
// with the 503 answer.
func TestOutageKeepsBudgetHeld(t *testing.T) {
	t.Parallel()
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	broker, addr := topicstest.StartBroker(t, topicstest.DataDir(t.TempDir()))
	topic := newTopic(t, addr)
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{addr}, CloseTimeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cfg := baseConfig(topic, pub)
	cfg.PublishTimeout = time.Second
	cfg.BodyBudget = cfg.MaxBody // one largest body fits, no more
	h, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// Connect the publisher first (its producer ID), redelivering as
	// GitHub would on a loaded machine.
	var first response
	for range 5 {
		if first = send(t, testClient, http.MethodPost, srv.URL, githubHeaders("ping", "outage-1", "application/json", testSecret, body), body); first.status == http.StatusAccepted {
			break
		}
	}
	if first.status != http.StatusAccepted {
		t.Fatalf("first delivery: status = %d, want 202; body %s", first.status, first.body)
	}
	if held := webhook.BudgetHeld(h); held != 0 {
		t.Fatalf("after a stored delivery the budget holds %d, want 0", held)
	}

	broker.Close()
	r := send(t, testClient, http.MethodPost, srv.URL, githubHeaders("ping", "outage-2", "application/json", testSecret, body), body)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", r.status, r.body)
	}
	if code, _ := errorBody(t, r); code != "log_unavailable" {
		t.Errorf("error = %q, want log_unavailable", code)
	}
	if held := webhook.BudgetHeld(h); held != int64(len(body)) {
		t.Errorf("with the record still retried the budget holds %d, want its %d bytes", held, len(body))
	}

	// Closing the publisher fails the record it still retries: its bytes
	// come back.
	_ = pub.Close()
	topicstest.WaitFor(t, 10*time.Second, "the failed record's bytes given back", func() bool {
		return webhook.BudgetHeld(h) == 0
	})
}
