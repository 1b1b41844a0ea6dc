package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// streamConn is a stream subscriber as a minimal client sees it: one
// HTTP/1.1 GET over a raw TCP connection, the chunked answer taken apart by
// hand so that the client spends as little of the two cores the node
// shares with it as it can (a Python or curl client would be on its own
// machine).
type streamConn struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
}

// openStream subscribes to path on the stream listener at addr with the
// extra request headers hdr ("Name: value" lines) and reads the answer's
// header block.
func openStream(addr, path string, hdr ...string) (*streamConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: application/vnd.pypubsub-stream\r\n"
	for _, h := range hdr {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	s := &streamConn{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}
	status, err := s.br.ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		conn.Close()
		return nil, fmt.Errorf("stream %s: %s", path, strings.TrimSpace(status))
	}
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, err
		}
		if line == "\r\n" {
			return s, nil
		}
	}
}

// errStreamEnd is next's error at the stream's terminating chunk.
var errStreamEnd = errors.New("stream ended")

// next returns the next object of the stream, pings included, without its
// "\n". The slice is valid until the next call.
func (s *streamConn) next() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(string(bytes.TrimRight(line, "\r\n")), 16, 32)
	if err != nil {
		return nil, fmt.Errorf("chunk size %q: %w", line, err)
	}
	if n == 0 {
		return nil, errStreamEnd
	}
	if cap(s.buf) < int(n)+2 {
		s.buf = make([]byte, int(n)+2)
	}
	b := s.buf[:int(n)+2]
	if _, err := io.ReadFull(s.br, b); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b[:n], "\r\n"), nil
}

// isPing reports whether obj is a stillalive object.
func isPing(obj []byte) bool { return bytes.HasPrefix(obj, []byte(`{"stillalive"`)) }

func (s *streamConn) close() { s.conn.Close() }

// benchEventRecord returns an events record as ridify writes it for a
// message published to path with contents, stamped ts (zero: when it is
// produced): what the replay
// benchmark stores a million of without running them through the stages
// (the replay reads the events topic; how the records got there does not
// change what it costs).
func benchEventRecord(topic string, n int, path string, contents []byte, ts time.Time) (*kgo.Record, error) {
	id := fmt.Sprintf("%026d", n)
	rid := "orn:pubsub.message:" + id + path
	stamp := ts
	if stamp.IsZero() {
		stamp = time.Now()
	}
	man, err := koi.NewManifest(rid, contents, stamp)
	if err != nil {
		return nil, err
	}
	msg, err := events.NewMessage(koi.Event{RID: rid, EventType: koi.EventNew, Manifest: &man, Contents: contents}, observed.Observation{
		RID: rid, Op: observed.OpUpsert, Contents: contents, Routing: "evt.publish", Immutable: true,
		Source: "publish", SourceKey: id, ReceivedAt: stamp, Path: path, PartitionKey: path,
	})
	if err != nil {
		return nil, err
	}
	r := topics.RecordFromMessage(topic, msg)
	r.Timestamp = ts
	return r, nil
}

// storeEvents produces n events records into topic on brokers, spread over
// 64 paths, stamped by the producer as it sends them (as ridify's are).
func storeEvents(ctx context.Context, brokers []string, topic string, n int) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer client.Close()
	filler := strings.Repeat("x", 200)
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		path := fmt.Sprintf("/bench/replay/p%d", i%64)
		contents := []byte(fmt.Sprintf(`{"n":%d,"note":"%s"}`, i, filler))
		r, err := benchEventRecord(topic, i, path, contents, time.Time{})
		if err != nil {
			return err
		}
		client.Produce(ctx, r, func(_ *kgo.Record, err error) {
			mu.Lock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		})
	}
	if err := client.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}
