package topics

import (
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
// the response, so a sync requested once the response is ready covers the
// batch.
//
// Held responses are queued, not waited for in Write. The broker serves a
// connection's requests one at a time and reads the next only after
// Write returned, as Kafka does; waiting in Write would give every produce
// request its own sync, and an idempotent franz-go producer keeps up to
// five small requests queued on its one connection, so records waited for
// up to five syncs in a row. With the queue the broker appends every
// request as it arrives and one sync acknowledges all of them. Responses
// still leave in request order, each only after a sync that was requested
// after it was ready.
type durableListener struct {
	net.Listener
	syncer *groupSyncer
}

// Accept implements net.Listener.
func (l *durableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newDurableConn(c, l.syncer), nil
}

// heldResponse is a response waiting in a durableConn's queue: synced is
// nil for responses that only keep their place in the order.
type heldResponse struct {
	b      []byte
	synced <-chan error
}

// durableConn follows the Kafka framing on one broker connection: requests
// read (size, api key, version, correlation id, ...) and responses written
// (size, correlation id, ...), so it knows which responses answer a durable
// API. Reads happen on one goroutine at a time, and so do writes; a
// goroutine per connection writes queued responses.
type durableConn struct {
	net.Conn
	syncer *groupSyncer

	// Read side: the head of the request being read, and how many bytes of
	// its body remain to pass.
	head  [12]byte
	headN int
	skip  int

	// Write side: how many bytes of the response being written remain.
	wskip int

	mu      sync.Mutex
	pending map[int32]struct{} // correlation ids of durable requests not yet answered
	queued  int                // responses in queue not yet written
	werr    error              // the first failed sync or write; the connection is closed then
	queue   chan heldResponse
	closed  chan struct{}
	once    sync.Once
}

// durableQueueLen bounds the responses a connection holds. franz-go keeps
// at most 5 produce requests in flight; a client that pipelines more
// (librdkafka allows many) finds Write blocking once the queue is full,
// which stops the broker reading its requests until a sync drains it.
const durableQueueLen = 64

func newDurableConn(c net.Conn, syncer *groupSyncer) *durableConn {
	dc := &durableConn{
		Conn:    c,
		syncer:  syncer,
		pending: map[int32]struct{}{},
		queue:   make(chan heldResponse, durableQueueLen),
		closed:  make(chan struct{}),
	}
	go dc.writeQueued()
	return dc
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

// Write implements net.Conn. A response to a durable request is queued
// with a sync requested now and written once that sync has finished; any
// response behind a queued one is queued too, to keep the order. Write
// then returns at once so that the broker goes on reading requests. If the
// sync fails, neither that response nor any after it is written and the
// connection is closed, so the client never sees an acknowledgement for
// data that may not be on disk; its retry (idempotent for franz-go and
// librdkafka producers) is acknowledged once a sync succeeds.
func (c *durableConn) Write(b []byte) (int, error) {
	mustSync := c.mustSync(b)
	c.mu.Lock()
	if c.werr != nil {
		err := c.werr
		c.mu.Unlock()
		return 0, err
	}
	if !mustSync && c.queued == 0 {
		c.mu.Unlock()
		return c.Conn.Write(b)
	}
	c.queued++
	c.mu.Unlock()
	r := heldResponse{b: append([]byte(nil), b...)}
	if mustSync {
		r.synced = c.syncer.request()
	}
	select {
	case c.queue <- r:
		return len(b), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

// writeQueued writes queued responses in order, each after its sync.
func (c *durableConn) writeQueued() {
	for {
		var r heldResponse
		select {
		case r = <-c.queue:
		case <-c.closed:
			return
		}
		var err error
		if r.synced != nil {
			select {
			case err = <-r.synced:
			case <-c.closed:
				return
			}
		}
		if err == nil {
			_, err = c.Conn.Write(r.b)
		}
		c.mu.Lock()
		c.queued--
		if err != nil && c.werr == nil {
			c.werr = err
		}
		c.mu.Unlock()
		if err != nil {
			c.Close()
			return
		}
	}
}

// Close implements net.Conn: queued responses are dropped, unacknowledged.
func (c *durableConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
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
