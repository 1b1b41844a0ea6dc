package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/githubapi"
)

// backfillDir is the backfill's own Pebble database under the data folder:
// ETags, Last-Modified dates and watermarks. Its own, not the stage
// state's, so that `koistream backfill` can open it alone, and a node
// running on the folder keeps it from doing so (Pebble's lock).
const backfillDir = "backfill"

// backfillPrefix is the fetcher's key prefix in that database.
const backfillPrefix = "v1\x00"

// githubBackfill is the fetcher of the github-api source with what it
// writes to: the raw topic through a publisher (each page durable before
// its watermark moves) and its Pebble database. It is also the node's
// koiapi.Dereferencer for GitHub RIDs. Safe for concurrent use; Close ends
// it, after which dereferences fail.
type githubBackfill struct {
	f   *backfill.Fetcher
	log *slog.Logger

	mu     sync.RWMutex // held for reading while the database is used
	db     *pebble.DB
	closed bool
}

// openGitHubBackfill opens the backfill's database under dataDir and makes
// its fetcher, writing pages to rawTopic through pub. The old sensor's
// state file, when cfg names one that exists, is imported once.
func openGitHubBackfill(cfg BackfillConfig, dataDir string, pub message.Publisher, rawTopic string, onProgress func(backfill.RepoStats), log *slog.Logger) (*githubBackfill, error) {
	db, err := pebble.Open(filepath.Join(dataDir, backfillDir), projections.StageStateOptions(log))
	if err != nil {
		return nil, fmt.Errorf("open the backfill's state: %w", err)
	}
	sink := func(ctx context.Context, in githubapi.Input) error {
		msg, err := githubapi.NewMessage(in)
		if err != nil {
			return err
		}
		msg.SetContext(ctx)
		if err := pub.Publish(rawTopic, msg); err != nil {
			return fmt.Errorf("append %s to the log: %w", in.URL, err)
		}
		return nil
	}
	fc := cfg.fetcherConfig()
	fc.OnProgress = onProgress
	f, err := backfill.New(fc, db, backfillPrefix, sink)
	if err != nil {
		db.Close()
		return nil, err
	}
	b := &githubBackfill{f: f, db: db, log: log}
	if cfg.StateFile != "" {
		n, err := f.ImportStateFile(cfg.StateFile)
		switch {
		case err != nil:
			log.Warn("the backfill state file could not be imported", "file", cfg.StateFile, "err", err)
		case n > 0:
			log.Info("backfill state imported", "file", cfg.StateFile, "repositories", n)
		}
	}
	return b, nil
}

// use runs fn while the database is open.
func (b *githubBackfill) use(fn func() error) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errors.New("the GitHub backfill has stopped")
	}
	return fn()
}

// Dereferences implements koiapi.Dereferencer: GitHub's entity RIDs.
func (b *githubBackfill) Dereferences(rid string) bool {
	_, err := backfill.ParseRID(rid)
	return err == nil
}

// Dereference implements koiapi.Dereferencer: the entity is fetched and its
// page appended to the raw topic, from where the stages bring it into the
// cache.
func (b *githubBackfill) Dereference(ctx context.Context, rid string) error {
	return b.use(func() error {
		_, err := b.f.Fetch(ctx, rid)
		if errors.Is(err, backfill.ErrNotFound) {
			return fmt.Errorf("%w: %w", koiapi.ErrGone, err)
		}
		return err
	})
}

// Close closes the database once no call uses it.
func (b *githubBackfill) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return b.db.Close()
}
