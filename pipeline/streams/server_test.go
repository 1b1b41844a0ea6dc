package streams_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/koistream/koistream/pipeline/streams"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/topicstest"
)

// serve runs a stream listener for cfg on a free port.
func serve(t *testing.T, cfg streams.Config) string {
	t.Helper()
	s, err := streams.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestPublishLogRefuses: a publish the log does not take (here, a
// publisher that was closed) is answered 503 with a JSON error and
// Retry-After, never 202.
func TestPublishLogRefuses(t *testing.T) {
	_, addr := topicstest.StartBroker(t)
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{addr}}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	lis := serve(t, streams.Config{Publisher: pub, RawTopic: "koistream.raw"})
	req, _ := http.NewRequest(http.MethodPost, "http://"+lis+"/a/b", strings.NewReader(`{"a":1}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error, Detail string }
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(b, &e) != nil || e.Error != "log_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s (Retry-After %q), want 503 log_unavailable", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
}

// TestStreamWithoutHub: a listener without a hub answers GETs 503 in JSON
// (after checking the request) and still answers HEAD.
func TestStreamWithoutHub(t *testing.T) {
	lis := serve(t, streams.Config{})
	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/a", 503, "streams_unavailable"},
		{"/a/../b", 400, "bad_path"},
	} {
		resp, err := http.Get("http://" + lis + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error, Detail string }
		if resp.StatusCode != tt.status || json.Unmarshal(b, &e) != nil || e.Error != tt.code {
			t.Errorf("GET %s: %d %s, want %d %s", tt.path, resp.StatusCode, b, tt.status, tt.code)
		}
	}
	resp, err := http.Head("http://" + lis + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Connections") == "" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestConfigValidate: the listener's own bounds.
func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  streams.Config
		ok   bool
	}{
		{"defaults", streams.Config{}, true},
		{"ping above 5 s", streams.Config{PingInterval: streams.MaxPingInterval + 1}, false},
		{"negative payload", streams.Config{MaxPayload: -1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := streams.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok %v", err, tt.ok)
			}
		})
	}
}
