package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/go-github/v92/github"
)

// RedeliveryWindow is how far back GitHub lets a delivery be redelivered
// on github.com (GITHUB-API.md 0.4).
const RedeliveryWindow = 72 * time.Hour

// Recovery is what RecoverDeliveries did.
type Recovery struct {
	// Hooks are the hook ids looked at.
	Hooks []int64
	// Failed counts the distinct failed delivery GUIDs of the window.
	Failed int
	// Redelivered are the GUIDs GitHub was asked to redeliver (those the
	// node did not have), in the order asked.
	Redelivered []string
}

// RecoverDeliveries asks GitHub to redeliver the failed webhook deliveries
// of repo's hooks from the last RedeliveryWindow that the node does not
// have. hookIDs names the hooks; when empty they are listed with GET
// /repos/{o}/{r}/hooks (which needs a token that may read them). For each
// hook it lists deliveries with status=failure, following Link cursors
// until the window ends, and POSTs .../deliveries/{id}/attempts once per
// GUID for which have reports false (a nil have: every GUID), waiting a second between these
// mutating requests as GitHub asks. GitHub keeps the GUID on redelivery, so
// the node's dedupe on it means nothing doubles. The responses are not
// records: deliveries are not github-api resources.
func (f *Fetcher) RecoverDeliveries(ctx context.Context, repo string, hookIDs []int64, have func(guid string) bool) (Recovery, error) {
	var rec Recovery
	if have == nil {
		have = func(string) bool { return false }
	}
	if err := validRepo(repo); err != nil {
		return rec, fmt.Errorf("backfill: %w", err)
	}
	if len(hookIDs) == 0 {
		u := f.repoURL(repo, "/hooks", url.Values{"per_page": {"100"}})
		for u != "" {
			r, err := f.do(ctx, repo, http.MethodGet, u, false)
			if err != nil {
				return rec, fmt.Errorf("backfill %s: list hooks: %w", repo, err)
			}
			var hooks []github.Hook
			if err := json.Unmarshal(r.body, &hooks); err != nil {
				return rec, fmt.Errorf("backfill %s: decode hooks: %w", repo, err)
			}
			for _, h := range hooks {
				hookIDs = append(hookIDs, h.GetID())
			}
			u = ParseLink(r.header.Get("Link"))["next"]
		}
	}
	rec.Hooks = hookIDs
	since := f.cfg.Clock.Now().Add(-RedeliveryWindow)
	posted := 0
	for _, hook := range hookIDs {
		hookPath := "/hooks/" + strconv.FormatInt(hook, 10) + "/deliveries"
		type todo struct {
			id   int64
			guid string
		}
		var missing []todo
		seen := map[string]bool{}
		u := f.repoURL(repo, hookPath, url.Values{"per_page": {"100"}, "status": {"failure"}})
		for u != "" {
			r, err := f.do(ctx, repo, http.MethodGet, u, false)
			if err != nil {
				return rec, fmt.Errorf("backfill %s: list deliveries of hook %d: %w", repo, hook, err)
			}
			var ds []github.HookDelivery
			if err := json.Unmarshal(r.body, &ds); err != nil {
				return rec, fmt.Errorf("backfill %s: decode deliveries: %w", repo, err)
			}
			u = ParseLink(r.header.Get("Link"))["next"]
			for _, d := range ds {
				if d.GetDeliveredAt().Before(since) {
					u = "" // newest first: the rest is older still
					continue
				}
				g := d.GetGUID()
				if g == "" || seen[g] {
					continue
				}
				seen[g] = true
				rec.Failed++
				if !have(g) {
					missing = append(missing, todo{d.GetID(), g})
				}
			}
		}
		for _, m := range missing {
			if posted > 0 {
				if err := f.wait(ctx, repo, time.Second); err != nil {
					return rec, err
				}
			}
			posted++
			u := f.repoURL(repo, hookPath+"/"+strconv.FormatInt(m.id, 10)+"/attempts", nil)
			if _, err := f.do(ctx, repo, http.MethodPost, u, false); err != nil {
				return rec, fmt.Errorf("backfill %s: redeliver %s: %w", repo, m.guid, err)
			}
			rec.Redelivered = append(rec.Redelivered, m.guid)
			f.update(repo, func(s *RepoStats) { s.Redelivered++ })
		}
	}
	return rec, nil
}
