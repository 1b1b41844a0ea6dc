package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultPartitions is the partition count of koistream's topics when none
// is configured.
const DefaultPartitions = 8

// ParseBrokers splits a comma-separated "host:port,host:port" list, dropping
// blanks. An empty string gives nil, meaning "use the embedded broker".
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// EnsureTopics creates every topic in names that does not exist yet, with
// partitions partitions (replication factor: the broker default). Topics that
// already exist are left as they are, whatever their partition count, since
// repartitioning a keyed log would move keys between partitions. It is safe to
// call on every start.
func EnsureTopics(ctx context.Context, brokers []string, names []string, partitions int) error {
	if partitions < 1 {
		return fmt.Errorf("ensure topics: partitions must be at least 1, got %d", partitions)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("ensure topics: client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// Raw and derived topics keep everything: the raw topic is the system of
	// record and replay by offset needs the rest. retention.ms=-1 says so at
	// topic level, so neither Kafka nor kfake applies its 7-day default.
	configs := map[string]*string{"retention.ms": new("-1")}
	resp, err := adm.CreateTopics(ctx, int32(partitions), -1, configs, names...)
	if err != nil {
		return fmt.Errorf("ensure topics %v: %w", names, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("ensure topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}
