package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/koistream/koistream/topics/githubapi"
)

// ImportStateFile imports, once, an old sensor's JSON state file
// (backfill_state_file_path). Two shapes are read:
//
//   - the seed sensor's (koi-net-github-sensor-node ingestion.py):
//     {"owner/repo": "<repository updated_at, Python str(datetime)>"}. That
//     sensor fetched only repository objects, so the value is kept as
//     information and moves no list watermark: the lists are backfilled
//     from the lookback as if new.
//   - {"owner/repo": {"issues": T, "pulls": T, "commits": T}} with RFC 3339
//     times: each becomes the list's watermark, so the first pass starts
//     there instead of at the lookback.
//
// Repositories whose state already exists are left alone, which makes a
// second import a no-op. A missing file imports nothing and is no error.
// It returns how many repositories were imported.
func (f *Fetcher) ImportStateFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("backfill: state file: %w", err)
	}
	var file map[string]json.RawMessage
	if err := json.Unmarshal(b, &file); err != nil {
		return 0, fmt.Errorf("backfill: state file %s is not a JSON object: %w", path, err)
	}
	n := 0
	for repo, raw := range file {
		if validRepo(repo) != nil {
			continue
		}
		rs, err := f.store.state(repo, githubapi.ResourceRepo)
		if err != nil {
			return n, err
		}
		if rs.ID != 0 || rs.LegacyUpdatedAt != "" {
			continue // fetched or imported already
		}
		var legacy string
		var lists map[string]string
		switch {
		case json.Unmarshal(raw, &legacy) == nil:
			rs.LegacyUpdatedAt = legacy
		case json.Unmarshal(raw, &lists) == nil:
			rs.LegacyUpdatedAt = "imported"
			for _, res := range []string{githubapi.ResourceIssues, githubapi.ResourcePulls, githubapi.ResourceCommits} {
				v := strings.TrimSpace(lists[res])
				if v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					return n, fmt.Errorf("backfill: state file %s: %s %s: %w", path, repo, res, err)
				}
				if err := f.store.save(repo, res, listState{Since: t.UTC(), Started: true}, nil); err != nil {
					return n, err
				}
			}
		default:
			return n, fmt.Errorf("backfill: state file %s: %s has neither shape", path, repo)
		}
		if err := f.store.save(repo, githubapi.ResourceRepo, rs, nil); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
