package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
)

// PartitionReaderConfig configures a [PartitionReader].
type PartitionReaderConfig struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Topic is the topic to read, every partition of it. Required.
	Topic string
	// Start is where to begin reading each partition: an exact offset
	// (kgo.NewOffset().At), the end, or a time (AfterMilli). Partitions of
	// the topic absent from Start are read from their first record. A start
	// offset past a partition's end, or before its start, is reset to the
	// partition's start by the client.
	Start map[int32]kgo.Offset
	// Logger receives fetch errors the client retries. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// KgoOpts are extra franz-go options (TLS, SASL), applied after
	// topics.FetchOpts. They must not set what to consume.
	KgoOpts []kgo.Opt
}

func (c *PartitionReaderConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports whether the configuration is complete.
func (c PartitionReaderConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("partition reader: brokers are required")
	case c.Topic == "":
		return errors.New("partition reader: topic is required")
	}
	return nil
}

// PartitionBatch is what one poll returned for one partition.
type PartitionBatch struct {
	// Topic and Partition say which partition.
	Topic     string
	Partition int32
	// HighWatermark is the partition's end offset as the broker reported it
	// with these records: the offset the next record appended will get.
	HighWatermark int64
	// Records are the data records fetched, in offset order; possibly
	// none, when the batch only reports the high watermark or held only
	// transaction markers. The reader reads committed records only.
	Records []*kgo.Record
	// Next is the offset after the last record fetched, transaction
	// markers included: where this partition's reading continues. It is
	// 0 when the fetch brought no records at all.
	Next int64
}

// PartitionReader reads every partition of one topic directly, without a
// consumer group (every reader sees everything; nothing is committed), from
// the start offsets it is given, and hands each poll over per partition
// with the partitions' high watermarks. It is what the projection [Runner]
// reads the events topic with, and what replay by offset or time reads the
// log with.
//
// The partitions are those the topic has when the reader opens; partitions
// added later are not read. A PartitionReader is not safe for concurrent
// use: one goroutine polls it.
type PartitionReader struct {
	cfg     PartitionReaderConfig
	cl      *kgo.Client
	ends    map[int32]int64
	batches []PartitionBatch // reused by Poll
}

// NewPartitionReader lists the topic's partitions and their end offsets and
// starts fetching from cfg.Start. It fails if the topic has no partitions
// (it does not exist) or the brokers cannot be reached before ctx ends.
func NewPartitionReader(ctx context.Context, cfg PartitionReaderConfig) (*PartitionReader, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.KgoOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("partition reader of %s: client: %w", cfg.Topic, err)
	}
	listed, err := kadm.NewClient(admCl).ListEndOffsets(ctx, cfg.Topic)
	admCl.Close()
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("partition reader of %s: end offsets: %w", cfg.Topic, err)
	}
	ends := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	listed.Each(func(o kadm.ListedOffset) {
		ends[o.Partition] = o.Offset
		if off, ok := cfg.Start[o.Partition]; ok {
			start[o.Partition] = off
		} else {
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(start) == 0 {
		return nil, fmt.Errorf("partition reader of %s: the topic has no partitions", cfg.Topic)
	}
	opts := append(topics.FetchOpts(), kgo.SeedBrokers(cfg.Brokers...),
		// Without fetch sessions: closing a client that consumes
		// partitions directly while a fetch is under way races inside
		// franz-go (v1.22.2: Client.close kills the session that the
		// fetch loop is still updating), which the race detector caught
		// in about one run in ten of this package's tests. Sessions only
		// shorten fetch requests that list many partitions; the events
		// topic has a handful.
		kgo.DisableFetchSessions())
	opts = append(opts, cfg.KgoOpts...)
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: start}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("partition reader of %s: client: %w", cfg.Topic, err)
	}
	return &PartitionReader{cfg: cfg, cl: cl, ends: ends}, nil
}

// Ends returns each partition's end offset as listed when the reader
// opened: which partitions it reads, and how far the log went then.
func (r *PartitionReader) Ends() map[int32]int64 { return maps.Clone(r.ends) }

// Poll waits until records arrive or ctx ends and returns what the fetch
// brought, one batch per partition. The batches and their record slices
// are valid until the next Poll. Fetch errors the client recovers from
// (a broker restarting, a leader moving) are logged and polling goes on;
// Poll returns an error only when ctx ends (ctx.Err()) or the reader can
// no longer fetch (it was closed).
func (r *PartitionReader) Poll(ctx context.Context) ([]PartitionBatch, error) {
	for {
		fetches := r.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		closed := false
		fetches.EachError(func(_ string, p int32, err error) {
			switch {
			case errors.Is(err, kgo.ErrClientClosed):
				closed = true
			case errors.Is(err, context.Canceled):
			default:
				r.cfg.Logger.Warn("partition reader fetch error", "topic", r.cfg.Topic, "partition", p, "err", err)
			}
		})
		if closed || r.cl.Context().Err() != nil {
			return nil, fmt.Errorf("partition reader of %s: %w", r.cfg.Topic, kgo.ErrClientClosed)
		}
		r.batches = r.batches[:0]
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if fp.Err != nil {
				return
			}
			b := PartitionBatch{
				Topic:         fp.Topic,
				Partition:     fp.Partition,
				HighWatermark: fp.HighWatermark,
				Records:       fp.Records,
			}
			if n := len(fp.Records); n > 0 {
				b.Next = fp.Records[n-1].Offset + 1
				b.Records = dataRecords(fp.Records)
			}
			r.batches = append(r.batches, b)
		})
		if len(r.batches) > 0 {
			return r.batches, nil
		}
	}
}

// dataRecords returns recs without the transaction markers (control
// records) that topics.FetchOpts keeps; recs itself when it has none, as
// nearly every fetch.
func dataRecords(recs []*kgo.Record) []*kgo.Record {
	for i, r := range recs {
		if !r.Attrs.IsControl() {
			continue
		}
		out := append([]*kgo.Record(nil), recs[:i]...)
		for _, r := range recs[i+1:] {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		}
		return out
	}
	return recs
}

// Close stops fetching and releases the client. Poll must not be called
// afterwards.
func (r *PartitionReader) Close() { r.cl.Close() }
