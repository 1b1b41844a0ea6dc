package topics

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
)

// Kafka API keys whose responses tell the client its data is stored:
// Produce, OffsetCommit, EndTxn and TxnOffsetCommit. The embedded broker
// holds these responses until the data is on disk.
var durableAPIs = [...]bool{0: true, 8: true, 26: true, 28: true}

func isDurableAPI(key int16) bool {
	return key >= 0 && int(key) < len(durableAPIs) && durableAPIs[key]
}

// durableListener hands the embedded broker connections that hold back
// the responses of durableAPIs until a group sync has made the broker's
// writes durable. The broker writes a batch to its files before it builds
// the response, so a sync that starts after the response is ready covers
// the batch. The broker writes responses on a goroutine per connection,
// so a held response delays only its own connection (whose next request
// the broker would not serve before this response anyway, as Kafka does).
type durableListener struct {
	net.Listener
	sync func(context.Context) error
}

// Accept implements net.Listener.
func (l *durableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &durableConn{Conn: c, sync: l.sync, pending: map[int32]struct{}{}}, nil
}

// durableConn follows the Kafka framing on one broker connection: requests
// read (size, api key, version, correlation id, ...) and responses written
// (size, correlation id, ...), so it knows which responses answer a durable
// API. Reads happen on one goroutine at a time, and so do writes.
type durableConn struct {
	net.Conn
	sync func(context.Context) error

	// Read side: the head of the request being read, and how many bytes of
	// its body remain to pass.
	head  [12]byte
	headN int
	skip  int

	// Write side: how many bytes of the response being written remain.
	wskip int

	mu      sync.Mutex
	pending map[int32]struct{} // correlation ids of durable requests not yet answered
}

// Read implements net.Conn.
func (c *durableConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.observeRequests(p[:n])
	return n, err
}

// observeRequests advances the request framing over b.
func (c *durableConn) observeRequests(b []byte) {
	for len(b) > 0 {
		if c.skip > 0 {
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
			continue
		}
		if c.headN < 4 {
			k := copy(c.head[c.headN:4], b)
			c.headN += k
			b = b[k:]
			continue
		}
		size := int(binary.BigEndian.Uint32(c.head[:4]))
		if size < 8 { // too short to carry a correlation id: the broker rejects it
			c.skip, c.headN = size, 0
			continue
		}
		k := copy(c.head[c.headN:12], b)
		c.headN += k
		b = b[k:]
		if c.headN == 12 {
			if isDurableAPI(int16(binary.BigEndian.Uint16(c.head[4:6]))) {
				c.mu.Lock()
				c.pending[int32(binary.BigEndian.Uint32(c.head[8:12]))] = struct{}{}
				c.mu.Unlock()
			}
			c.skip, c.headN = size-8, 0
		}
	}
}

// Write implements net.Conn: a response to a durable request is written
// only after a sync that started now has finished. If the sync fails, the
// response is not written and the connection fails, so the client never
// sees an acknowledgement for data that may not be on disk; its retry
// (idempotent for franz-go and librdkafka producers) will be acknowledged
// once a sync succeeds.
func (c *durableConn) Write(b []byte) (int, error) {
	if c.mustSync(b) {
		if err := c.sync(context.Background()); err != nil {
			c.Conn.Close()
			return 0, err
		}
	}
	return c.Conn.Write(b)
}

// mustSync advances the response framing over b and reports whether b
// starts a response to a durable request. A response head split across
// writes (the broker writes each response whole) is synced to be safe.
func (c *durableConn) mustSync(b []byte) bool {
	sync := false
	for len(b) > 0 {
		if c.wskip > 0 {
			k := min(c.wskip, len(b))
			c.wskip -= k
			b = b[k:]
			continue
		}
		if len(b) < 8 {
			return true
		}
		corr := int32(binary.BigEndian.Uint32(b[4:8]))
		c.mu.Lock()
		if _, ok := c.pending[corr]; ok {
			delete(c.pending, corr)
			sync = true
		}
		c.mu.Unlock()
		c.wskip = int(binary.BigEndian.Uint32(b[:4])) + 4
	}
	return sync
}
