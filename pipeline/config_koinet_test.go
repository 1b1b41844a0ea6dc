package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/koiapi"
)

// koiFrom parses yaml as a configuration file, applies it to a Config and
// sets the defaults, as serve does, and returns the KOI-net part.
func koiFrom(t *testing.T, yaml string) pipeline.KOIConfig {
	t.Helper()
	f, err := pipeline.ParseFile("config.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var cfg pipeline.Config
	if err := f.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	return cfg.KOI
}

// TestKOIConfigFromFile: the koi_net keys of the file land in Config.KOI
// with the reference's meanings (rid_types_of_interest null = all, [] =
// none, absent = [orn:koi-net.node]; a bare-URL first contact is 1.0).
func TestKOIConfigFromFile(t *testing.T) {
	const fc = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	full := pipeline.KOIConfig{
		NodeType: pipeline.NodeTypeFull, RidTypesOfInterest: []string{"orn:koi-net.node"},
		PollingInterval: pipeline.DefaultPollingInterval, QueueLimit: pipeline.DefaultQueueLimit,
		BodyBudget: koiapi.DefaultBodyBudget,
	}
	with := func(mod func(*pipeline.KOIConfig)) pipeline.KOIConfig {
		k := full
		mod(&k)
		return k
	}
	tests := []struct {
		name string
		yaml string
		want pipeline.KOIConfig
	}{
		{"empty file: the defaults", "", full},
		{"2.1 first contact", "koi_net:\n  first_contact: {rid: " + fc + ", url: http://127.0.0.1:8080/koi-net}\n",
			with(func(k *pipeline.KOIConfig) {
				k.FirstContactRID, k.FirstContactURL = fc, "http://127.0.0.1:8080/koi-net"
			})},
		{"bare-URL first contact is 1.0", "koi_net:\n  first_contact: http://127.0.0.1:8000/koi-net\n",
			with(func(k *pipeline.KOIConfig) {
				k.FirstContactURL, k.Protocol = "http://127.0.0.1:8000/koi-net", pipeline.ProtocolV1
			})},
		{"interests null: all", "koi_net:\n  rid_types_of_interest: null\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest, k.AllRidTypes = nil, true })},
		{"interests ~: all", "koi_net:\n  rid_types_of_interest: ~\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest, k.AllRidTypes = nil, true })},
		{"interests empty: none", "koi_net:\n  rid_types_of_interest: []\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest = []string{} })},
		{"interests listed", "koi_net:\n  rid_types_of_interest: [orn:github.event, orn:koi-net.node]\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest = []string{"orn:github.event", "orn:koi-net.node"} })},
		{"partial node polling every 2.5 s", "koi_net:\n  node_profile: {node_type: PARTIAL}\n  polling_interval: 2.5\n",
			with(func(k *pipeline.KOIConfig) {
				k.NodeType, k.PollingInterval = pipeline.NodeTypePartial, 2500*time.Millisecond
			})},
		{"protocol 1.0 given", "koi_net:\n  protocol: '1.0'\n",
			with(func(k *pipeline.KOIConfig) { k.Protocol = pipeline.ProtocolV1 })},
		{"queue limit", "koi_net:\n  queue_limit: 500\n",
			with(func(k *pipeline.KOIConfig) { k.QueueLimit = 500 })},
		{"body budget", "koi_net:\n  body_budget: 67108864\n",
			with(func(k *pipeline.KOIConfig) { k.BodyBudget = 64 << 20 })},
		{"body budget 0: the default", "koi_net:\n  body_budget: 0\n", full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := koiFrom(t, tt.yaml)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("KOI =\n%#v\nwant\n%#v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestKOIConfigSeedFiles: the testdata configurations map as their
// networks need.
func TestKOIConfigSeedFiles(t *testing.T) {
	tests := []struct {
		file         string
		wantProtocol string
		wantFCRID    bool
	}{
		{"testdata/koi-net-2.1-config.yaml", "", true},
		{"testdata/sensor-readme-config.yaml", pipeline.ProtocolV1, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, cfg := loadApplied(t, tt.file)
			if cfg.KOI.Protocol != tt.wantProtocol || (cfg.KOI.FirstContactRID != "") != tt.wantFCRID || cfg.KOI.FirstContactURL == "" {
				t.Errorf("KOI = %+v", cfg.KOI)
			}
			if err := cfg.KOI.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestKOIConfigValidate refuses what a node cannot run with, saying which
// setting.
func TestKOIConfigValidate(t *testing.T) {
	good := func() pipeline.KOIConfig {
		return pipeline.KOIConfig{NodeType: pipeline.NodeTypeFull, PollingInterval: time.Second}
	}
	tests := []struct {
		name string
		mod  func(*pipeline.KOIConfig)
		want string
	}{
		{"node type", func(k *pipeline.KOIConfig) { k.NodeType = "HALF" }, "node type"},
		{"protocol", func(k *pipeline.KOIConfig) { k.Protocol = "2.0" }, "protocol"},
		{"first contact rid of another type", func(k *pipeline.KOIConfig) {
			k.FirstContactRID, k.FirstContactURL = "orn:github.repo:o/r", "http://x/koi-net"
		}, "first contact rid"},
		{"first contact rid without url", func(k *pipeline.KOIConfig) {
			k.FirstContactRID = "orn:koi-net.node:c+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
		}, "no url"},
		{"first contact url", func(k *pipeline.KOIConfig) { k.FirstContactURL = "ftp://x" }, "first contact url"},
		{"interest", func(k *pipeline.KOIConfig) { k.RidTypesOfInterest = []string{"not a type"} }, "rid type of interest"},
		{"negative interval", func(k *pipeline.KOIConfig) { k.PollingInterval = -time.Second }, "must not be negative"},
		{"negative queue limit", func(k *pipeline.KOIConfig) { k.QueueLimit = -1 }, "must not be negative"},
		{"body budget under a broadcast", func(k *pipeline.KOIConfig) { k.BodyBudget = 1 << 20 }, "body budget 1048576 is smaller than a broadcast body may be (32505856)"},
		{"negative body budget", func(k *pipeline.KOIConfig) { k.BodyBudget = -1 }, "body budget -1 is smaller"},
	}
	if err := func() *pipeline.KOIConfig { k := good(); return &k }().Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := good()
			tt.mod(&k)
			err := k.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestKoiNetBodyBudgetReachesServer: koi_net.body_budget from the file is
// the budget of the node's KOI-net API. With the smallest budget, one
// stalled upload of the largest broadcast holds all of it, and any other
// body is answered 503 over_budget with Retry-After; with the default
// budget (four such uploads) the same body would be read.
func TestKoiNetBodyBudgetReachesServer(t *testing.T) {
	f, err := pipeline.ParseFile("config.yaml", fmt.Appendf(nil, "koi_net: {body_budget: %d}\n", koiapi.DefaultMaxBroadcastBody))
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 1,
		Streams:  pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		NodeName: "sensor", Logger: slog.New(slog.DiscardHandler),
	}
	if err := f.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	n, err := pipeline.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	post := func(contentLength int) string {
		return fmt.Sprintf("POST /koi-net/events/broadcast HTTP/1.1\r\nHost: koistream\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", contentLength)
	}
	stall := func() net.Conn {
		c, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, post(koiapi.DefaultMaxBroadcastBody)+"{"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	stalled := stall()
	// The stalled upload's handler may not have reserved its bytes yet:
	// until it has, the small body is read and taken. And when a small
	// body came first, the stalled upload itself was refused: it is sent
	// again.
	small := `{"events":[]}`
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, post(len(small))+small); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = c.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if ra := resp.Header.Get("Retry-After"); ra != "1" || !strings.Contains(string(body), `"error":"over_budget"`) ||
				!strings.Contains(string(body), fmt.Sprintf("budget of %d bytes", koiapi.DefaultMaxBroadcastBody)) {
				t.Fatalf("503 with Retry-After %q and body %s, want over_budget naming the configured budget", ra, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a small broadcast beside a stalled upload of the whole budget: %d %s, want 503 over_budget", resp.StatusCode, body)
		}
		_ = stalled.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _ := stalled.Read(make([]byte, 1)); n > 0 {
			_ = stalled.Close()
			stalled = stall()
		}
	}
}
