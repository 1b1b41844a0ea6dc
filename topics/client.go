package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
// partitions partitions (replication factor: the broker default) and
// TopicConfigs. Topics that already exist keep their partition count, since
// repartitioning a keyed log would move keys between partitions, but one
// whose max.message.bytes is below MaxBatchBytes (a topic created by a
// build before that limit was set, on a cluster with Kafka's default of
// 1,048,588) has it raised to MaxBatchBytes, so a 25 MiB webhook is not
// refused by the topic after the producers allow it; a larger value set by
// an operator is left alone. It is safe to call on every start.
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
	resp, err := adm.CreateTopics(ctx, int32(partitions), -1, TopicConfigs(), names...)
	if err != nil {
		return fmt.Errorf("ensure topics %v: %w", names, err)
	}
	var existing []string
	for _, r := range resp.Sorted() {
		switch {
		case errors.Is(r.Err, kerr.TopicAlreadyExists):
			existing = append(existing, r.Topic)
		case r.Err != nil:
			return fmt.Errorf("ensure topic %s: %w", r.Topic, r.Err)
		}
	}
	return raiseMaxMessageBytes(ctx, adm, existing)
}

// raiseMaxMessageBytes sets max.message.bytes to MaxBatchBytes on those of
// topics whose effective value (topic-level, else the broker's default) is
// lower.
func raiseMaxMessageBytes(ctx context.Context, adm *kadm.Client, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	described, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return fmt.Errorf("ensure topics %v: describe configs: %w", topics, err)
	}
	var low []string
	for _, rc := range described {
		if rc.Err != nil {
			return fmt.Errorf("ensure topic %s: describe configs: %w", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key != MaxMessageBytesConfig {
				continue
			}
			// A value we cannot read is treated as too low: raising it
			// to ours is harmless.
			if v, err := strconv.Atoi(c.MaybeValue()); err != nil || v < MaxBatchBytes {
				low = append(low, rc.Name)
			}
		}
	}
	if len(low) == 0 {
		return nil
	}
	altered, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{
		Op: kadm.SetConfig, Name: MaxMessageBytesConfig, Value: new(strconv.Itoa(MaxBatchBytes)),
	}}, low...)
	if err != nil {
		return fmt.Errorf("ensure topics %v: raise %s to %d: %w", low, MaxMessageBytesConfig, MaxBatchBytes, err)
	}
	for _, r := range altered {
		if r.Err != nil {
			return fmt.Errorf("ensure topic %s: raise %s to %d: %w (%s)", r.Name, MaxMessageBytesConfig, MaxBatchBytes, r.Err, r.ErrMessage)
		}
	}
	return nil
}
