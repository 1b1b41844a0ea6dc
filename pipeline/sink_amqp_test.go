package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.yaml.in/yaml/v3"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/amqpsink"
	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/replay"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/topicstest"
)

const amqpTestSecret = "amqp-sink-test-secret"

// amqpNodeConfig is a node's configuration with webhooks signed by
// amqpTestSecret and a sink of type amqp per block, named "ght" for the
// first and "ght<i>" for the others, whose entry's keys are the YAML
// block; getenv is the node's environment.
func amqpNodeConfig(t *testing.T, getenv func(string) string, blocks ...string) pipeline.Config {
	t.Helper()
	var sinks []pipeline.PluginSpec
	for i, block := range blocks {
		var keys map[string]any
		if err := yaml.Unmarshal([]byte(block), &keys); err != nil {
			t.Fatal(err)
		}
		name := "ght"
		if i > 0 {
			name += strconv.Itoa(i)
		}
		sinks = append(sinks, pipeline.PluginSpec{Name: name, Type: "amqp", Config: stages.ConfigOf(keys)})
	}
	return pipeline.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 2,
		WebhookSecrets: [][]byte{[]byte(amqpTestSecret)},
		Streams:        pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		Sinks:          sinks,
		Getenv:         getenv,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

// startAMQPNode starts a node configured by amqpNodeConfig.
func startAMQPNode(t *testing.T, getenv func(string) string, blocks ...string) *pipeline.Node {
	t.Helper()
	n, err := pipeline.Start(context.Background(), amqpNodeConfig(t, getenv, blocks...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

// issueDelivery is testdata's issues.opened delivery about issue number,
// titled title, with action action.
func issueDelivery(t *testing.T, number int, title, action string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("amqpsink", "testdata", "issues.opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	issue := p["issue"].(map[string]any)
	issue["number"], issue["title"] = number, title
	p["action"] = action
	out, _ := json.Marshal(p)
	return out
}

// postSigned posts body as a webhook delivery of event with id, signed.
func postSigned(t *testing.T, addr, event, id string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/github/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(amqpTestSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("webhook %s %s: %d %s", event, id, resp.StatusCode, b)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("amqpsink", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// declareQueue declares ght-streams as GHTorrent's consumers do (durable
// topic) and a queue bound to it with pattern.
func declareQueue(t *testing.T, url, queue, pattern string, durable bool) {
	t.Helper()
	declareQueueOn(t, url, queue, amqpsink.DefaultExchange, pattern, durable)
}

// declareQueueOn declares exchange (durable topic) and a queue bound to it
// with pattern.
func declareQueueOn(t *testing.T, url, queue, exchange, pattern string, durable bool) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, durable, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, pattern, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
}

// got is a message a test consumer received.
type got struct {
	ID, Key string
	Body    []byte
	Persist bool
}

// drainQueue takes every message in queue now (basic.get, acknowledged).
func drainQueue(t *testing.T, url, queue string) []got {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	var out []got
	for {
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, got{ID: d.MessageId, Key: d.RoutingKey, Body: d.Body, Persist: d.DeliveryMode == amqp.Persistent})
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
}

// want is what the sink must publish: every events record's message, in
// topic order, by id.
func wantMessages(t *testing.T, n *pipeline.Node) (ids []string, byID map[string]amqpsink.Message) {
	t.Helper()
	byID = map[string]amqpsink.Message{}
	for _, r := range topicstest.ReadAll(t, n.KafkaAddrs()[0], n.Topics().Events) {
		rec, err := events.Parse(topics.MessageFromRecord(r))
		if err != nil {
			t.Fatal(err)
		}
		m, err := amqpsink.Build(rec)
		if err != nil {
			t.Fatal(err)
		}
		id := r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
		ids = append(ids, id)
		byID[id] = m
	}
	return ids, byID
}

// collector accumulates what test consumers took from their queues.
type collector struct {
	t     *testing.T
	url   string
	queue string
	msgs  []got
}

// take drains the queue into c and reports how many distinct ids c holds.
func (c *collector) take() int {
	c.msgs = append(c.msgs, drainQueue(c.t, c.url, c.queue)...)
	ids := map[string]bool{}
	for _, m := range c.msgs {
		ids[m.ID] = true
	}
	return len(ids)
}

// partitionOf is the partition part of a message id, topic/partition/offset.
func partitionOf(id string) string {
	_, rest, _ := strings.Cut(id, "/")
	p, _, _ := strings.Cut(rest, "/")
	return p
}

// checkReceived checks that msgs hold exactly the messages of want whose
// ids are wantIDs (selected ones, topic order), each with its key and body,
// persistent, in order within each partition; duplicates are allowed only
// when dupsOK, and must then be identical. It returns how many duplicates
// there were.
func checkReceived(t *testing.T, queue string, msgs []got, wantIDs []string, want map[string]amqpsink.Message, dupsOK bool) int {
	t.Helper()
	seen := map[string]bool{}
	var order []string
	dups := 0
	for _, m := range msgs {
		w, ok := want[m.ID]
		if !ok || !slices.Contains(wantIDs, m.ID) {
			t.Errorf("%s: unexpected message %q key %q", queue, m.ID, m.Key)
			continue
		}
		if m.Key != w.Key || !bytes.Equal(m.Body, w.Body) || !m.Persist {
			t.Errorf("%s: message %s: key %q persistent %v body\n%s\nwant key %q persistent, body\n%s", queue, m.ID, m.Key, m.Persist, m.Body, w.Key, w.Body)
		}
		if seen[m.ID] {
			dups++
			if !dupsOK {
				t.Errorf("%s: message %s received twice", queue, m.ID)
			}
			continue
		}
		seen[m.ID] = true
		order = append(order, m.ID)
	}
	for _, id := range wantIDs {
		if !seen[id] {
			t.Errorf("%s: message %s (key %q) never received", queue, id, want[id].Key)
		}
	}
	// Within a partition, first receipts come in offset order.
	for _, p := range []string{"0", "1"} {
		var gotP, wantP []string
		for _, id := range order {
			if partitionOf(id) == p {
				gotP = append(gotP, id)
			}
		}
		for _, id := range wantIDs {
			if partitionOf(id) == p {
				wantP = append(wantP, id)
			}
		}
		if !slices.Equal(gotP, wantP) {
			t.Errorf("%s: partition %s order\n got %v\nwant %v", queue, p, gotP, wantP)
		}
	}
	return dups
}

// selected returns the ids whose key pattern selects.
func selected(t *testing.T, ids []string, want map[string]amqpsink.Message, pattern string) []string {
	t.Helper()
	f, err := replay.NewFilter("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range ids {
		if f.Match(&replay.Item{Key: want[id].Key}) {
			out = append(out, id)
		}
	}
	return out
}

// metricValue reads the value of the series matching series (a regular
// expression over the whole series name and labels) from /metrics.
func metricValue(t *testing.T, addr, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + series + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return v, err == nil
}

// TestAMQPSinkBindings: signed webhooks through a node whose sinks: list
// has an amqp entry reach consumers bound to ght-streams with evt.push.*,
// ent.*.update and #, each receiving exactly the messages its pattern
// selects (none twice), with GHTorrent's keys and bodies, persistent, in
// order per partition; and /metrics counts them and shows the lag falling
// to 0.
func TestAMQPSinkBindings(t *testing.T) {
	t.Parallel()
	rmq := topicstest.StartRabbitMQ(t)
	queues := []struct{ name, pattern string }{{"push", "evt.push.*"}, {"updates", "ent.*.update"}, {"all", "#"}}
	for _, q := range queues {
		declareQueue(t, rmq.URL(), q.name, q.pattern, false)
	}
	// A second sink publishes only issue entities to another exchange.
	declareQueueOn(t, rmq.URL(), "issues-only", "filtered", "#", false)
	n := startAMQPNode(t, nil, "url: "+rmq.URL()+"\nexchange: ght-streams\n",
		"url: "+rmq.URL()+"\nexchange: filtered\npersistent: false\nfilter: {rid_types: [orn:github.issue, orn:github.pr], keys: [\"ent.issues.*\"]}\n")
	postSigned(t, n.Addr(), "push", "d-push", readTestdata(t, "push.multiple-commits.json"))
	postSigned(t, n.Addr(), "issues", "d-open", issueDelivery(t, 7, "Sensor drifts", "opened"))
	postSigned(t, n.Addr(), "issues", "d-edit", issueDelivery(t, 7, "Sensor drifts at night", "edited"))
	postSigned(t, n.Addr(), "pull_request", "d-pr", readTestdata(t, "pull_request.opened.json"))
	waitDrained(t, n)
	ids, want := wantMessages(t, n)

	for _, q := range queues {
		t.Run(q.name, func(t *testing.T) {
			wantIDs := selected(t, ids, want, q.pattern)
			c := &collector{t: t, url: rmq.URL(), queue: q.name}
			topicstest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d messages in %s", len(wantIDs), q.name), func() bool {
				return c.take() >= len(wantIDs)
			})
			time.Sleep(200 * time.Millisecond) // let a stray extra message show
			c.take()
			checkReceived(t, q.name, c.msgs, wantIDs, want, false)
			switch q.name {
			case "push":
				if len(c.msgs) != 1 || c.msgs[0].Key != "evt.push.insert" || !bytes.Contains(c.msgs[0].Body, []byte(`"id":"d-push","type":"PushEvent"`)) {
					t.Errorf("push queue: %d messages, first %+v", len(c.msgs), c.msgs)
				}
			case "updates":
				found := false
				for _, m := range c.msgs {
					found = found || m.Key == "ent.issues.update" && bytes.Contains(m.Body, []byte(`"title":"Sensor drifts at night"`))
				}
				if !found {
					t.Errorf("updates queue holds no ent.issues.update with the edited title: %d messages", len(c.msgs))
				}
			case "all":
				if len(c.msgs) != len(ids) {
					t.Errorf("# queue: %d messages, want every event (%d)", len(c.msgs), len(ids))
				}
			}
		})
	}
	t.Run("filtered", func(t *testing.T) {
		var wantIDs []string
		for _, id := range ids {
			if strings.HasPrefix(want[id].RID, "orn:github.issue:") && strings.HasPrefix(want[id].Key, "ent.issues.") {
				wantIDs = append(wantIDs, id)
			}
		}
		if len(wantIDs) != 2 {
			t.Fatalf("%d issue entity events, want 2 (opened, edited)", len(wantIDs))
		}
		c := &collector{t: t, url: rmq.URL(), queue: "issues-only"}
		topicstest.WaitFor(t, 20*time.Second, "the issue entity events on the filtered exchange", func() bool { return c.take() >= len(wantIDs) })
		time.Sleep(200 * time.Millisecond)
		c.take()
		for i := range c.msgs {
			if c.msgs[i].Persist {
				t.Errorf("message %s is persistent; the entry says persistent: false", c.msgs[i].ID)
			}
			c.msgs[i].Persist = true // checkReceived checks the other sink's default
		}
		checkReceived(t, "issues-only", c.msgs, wantIDs, want, false)
	})
	delivered, ok := metricValue(t, n.Addr(), `koistream_sink_delivered_total\{sink="ght"\}`)
	if !ok || delivered != float64(len(ids)) {
		t.Errorf("koistream_sink_delivered_total{sink=\"ght\"} = %v (found %v), want %d", delivered, ok, len(ids))
	}
	topicstest.WaitFor(t, 15*time.Second, "koistream_sink_lag 0", func() bool {
		lag, ok := metricValue(t, n.Addr(), `koistream_sink_lag\{sink="ght"\}`)
		return ok && lag == 0
	})
}

// TestAMQPSinkSurvivesRestart: RabbitMQ stopped mid-stream and started
// again. While it is down the pipeline keeps going (events reach the
// cache) and the sink's committed position stays behind the events it
// could not deliver; once it is back every event is delivered to a
// durable queue bound with #. Delivery is at least once: a record of a
// batch that failed part-way can come twice, always with the same id,
// key and body, which the test allows and checks.
func TestAMQPSinkSurvivesRestart(t *testing.T) {
	t.Parallel()
	rmq := topicstest.StartRabbitMQ(t)
	declareQueue(t, rmq.URL(), "ght_queue", "#", true)
	env := map[string]string{"GHT_AMQP_URL": rmq.URL()}
	n := startAMQPNode(t, func(k string) string { return env[k] }, "url_env: GHT_AMQP_URL\n")
	c := &collector{t: t, url: rmq.URL(), queue: "ght_queue"}

	for i := 1; i <= 10; i++ {
		postSigned(t, n.Addr(), "issues", "before-"+strconv.Itoa(i), issueDelivery(t, i, "before", "opened"))
	}
	waitDrained(t, n)
	before, _ := wantMessages(t, n)
	topicstest.WaitFor(t, 20*time.Second, "the events before the stop delivered", func() bool { return c.take() >= len(before) })
	addr, group := n.KafkaAddrs()[0], strings.TrimSuffix(n.Topics().Events, "events")+"sink.ght"
	endBefore := topicstest.EndOffsets(t, addr, n.Topics().Events)

	rmq.Stop()
	for i := 11; i <= 20; i++ {
		postSigned(t, n.Addr(), "issues", "during-"+strconv.Itoa(i), issueDelivery(t, i, "during", "opened"))
	}
	waitDrained(t, n)
	if _, ok, err := n.Cache().Bundle("orn:github.issue:koi-garden/pond-sensor:20"); err != nil || !ok {
		t.Fatalf("an issue sent while RabbitMQ was down is not in the cache (%v, %v): the pipeline waited for the sink", ok, err)
	}
	time.Sleep(1500 * time.Millisecond) // more than a commit interval and a few retries
	committed := topicstest.Committed(t, addr, group, n.Topics().Events)
	grew := false
	for p, end := range topicstest.EndOffsets(t, addr, n.Topics().Events) {
		if committed[p] > endBefore[p] {
			t.Errorf("partition %d: the sink committed offset %d with RabbitMQ down, past %d where the undelivered events start", p, committed[p], endBefore[p])
		}
		grew = grew || end > endBefore[p]
	}

	if !grew {
		t.Fatal("no events were appended while RabbitMQ was down")
	}
	if lag, ok := metricValue(t, n.Addr(), `koistream_sink_lag\{sink="ght"\}`); !ok || lag <= 0 {
		t.Errorf("koistream_sink_lag{sink=\"ght\"} = %v (found %v) with RabbitMQ down and events undelivered, want > 0", lag, ok)
	}
	if failed, ok := metricValue(t, n.Addr(), `koistream_sink_failed_total\{reason="unconfirmed",sink="ght"\}`); !ok || failed <= 0 {
		t.Errorf("koistream_sink_failed_total{reason=\"unconfirmed\"} = %v (found %v) with RabbitMQ down, want > 0", failed, ok)
	}

	rmq.Start()
	ids, want := wantMessages(t, n)
	if len(ids) <= len(before) {
		t.Fatalf("%d events in all, %d before the stop", len(ids), len(before))
	}
	topicstest.WaitFor(t, 30*time.Second, fmt.Sprintf("all %d events delivered after the restart", len(ids)), func() bool {
		return c.take() >= len(ids)
	})
	dups := checkReceived(t, "ght_queue", c.msgs, ids, want, true)
	t.Logf("%d events, %d messages received, %d duplicates", len(ids), len(c.msgs), dups)
	topicstest.WaitFor(t, 15*time.Second, "the sink's position at the end", func() bool {
		got := topicstest.Committed(t, addr, group, n.Topics().Events)
		for p, o := range topicstest.EndOffsets(t, addr, n.Topics().Events) {
			if got[p] != o {
				return false
			}
		}
		return true
	})
}

// TestAMQPSinkConfigErrors: a mistake in an amqp entry stops the node from
// starting with an error naming the entry and what is wrong; RabbitMQ
// itself is not needed to find it.
func TestAMQPSinkConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, block, want string }{
		{"no url", "exchange: x\n", "url or url_env is required"},
		{"unset variable", "url_env: NOT_SET_ANYWHERE\n", "NOT_SET_ANYWHERE, which is not set"},
		{"unknown key", "url: amqp://127.0.0.1/\nexchnage: x\n", "exchnage"},
		{"bad pattern", "url: amqp://127.0.0.1/\nfilter: {keys: [\"evt.\\x01\"]}\n", "filter.keys[0]"},
		{"reserved exchange", "url: amqp://127.0.0.1/\nexchange: amq.topic\n", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := pipeline.Start(context.Background(), amqpNodeConfig(t, func(string) string { return "" }, tt.block))
			if err == nil {
				_ = n.Shutdown(context.Background())
				t.Fatalf("the node started with %q", tt.block)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "ght") {
				t.Fatalf("error %q, want one naming the sink and saying %q", err, tt.want)
			}
		})
	}
}
