package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxBody bounds a response body: GitHub's pages are far smaller.
const maxBody = 64 << 20

// response is one answered request.
type response struct {
	status             int
	header             http.Header
	body               []byte
	url                string
	scope              string
	etag, lastModified string
	received           time.Time
}

// pick returns the token to use: the current one unless its quota is known
// to be spent, else the next one that is not; when all are spent it waits
// until the earliest reset.
func (f *Fetcher) pick(ctx context.Context, repo string) (*token, error) {
	f.mu.Lock()
	now := f.cfg.Clock.Now()
	var earliest time.Time
	for i := range f.tokens {
		t := f.tokens[(f.cur+i)%len(f.tokens)]
		if t.remaining != 0 || !now.Before(t.reset) {
			f.cur = (f.cur + i) % len(f.tokens)
			f.mu.Unlock()
			return t, nil
		}
		if earliest.IsZero() || t.reset.Before(earliest) {
			earliest = t.reset
		}
	}
	f.mu.Unlock()
	if err := f.wait(ctx, repo, earliest.Sub(now)); err != nil {
		return nil, err
	}
	return f.pick(ctx, repo)
}

// wait sleeps d through the Clock, counted in repo's stats. It refuses a
// wait that would outlast ctx's deadline.
func (f *Fetcher) wait(ctx context.Context, repo string, d time.Duration) error {
	d = max(d, time.Second) // never a hot loop
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("%w: %s", ErrDeadline, d)
	}
	f.update(repo, func(s *RepoStats) { s.Waits++; s.Waited += d })
	return f.cfg.Clock.Sleep(ctx, d)
}

// do makes one logical request, retrying as GitHub's rules say, and returns
// its final 2xx or 304 response. A conditional request sends the
// validators stored for (token, URL) byte for byte.
func (f *Fetcher) do(ctx context.Context, repo, method, url string, conditional bool) (*response, error) {
	var retries, secondary, primary int
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := f.pick(ctx, repo)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return nil, fmt.Errorf("backfill: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+t.value)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		req.Header.Set("User-Agent", f.cfg.UserAgent)
		if conditional {
			v, err := f.store.validators(t.scope, url)
			if err != nil {
				return nil, err
			}
			// Set the raw map entries: the values go out exactly as
			// stored, quotes and W/ included.
			if v.ETag != "" {
				req.Header["If-None-Match"] = []string{v.ETag}
			}
			if v.LastModified != "" {
				req.Header["If-Modified-Since"] = []string{v.LastModified}
			}
		}
		select {
		case t.turn <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		f.update(repo, func(s *RepoStats) { s.Requests++ })
		resp, err := f.cfg.HTTPClient.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
			resp.Body.Close()
		}
		<-t.turn
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if retries++; retries > f.cfg.MaxRetries {
				return nil, fmt.Errorf("backfill: %s %s: %w", method, url, err)
			}
			if err := f.wait(ctx, repo, backoff(time.Second, retries, time.Minute)); err != nil {
				return nil, err
			}
			continue
		}
		now := f.cfg.Clock.Now()
		rate := ParseRate(resp.Header)
		f.noteRate(repo, t, rate)
		switch classify(resp.StatusCode, resp.Header, body) {
		case vOK, vNotModified:
			return &response{
				status: resp.StatusCode, header: resp.Header, body: body, url: url, scope: t.scope,
				etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified"), received: now,
			}, nil
		case vPrimary:
			if primary++; primary > 2*len(f.tokens)+f.cfg.MaxRetries {
				return nil, fmt.Errorf("%w: %s %s: primary limit did not lift", ErrRateLimited, method, url)
			}
			f.mu.Lock()
			t.remaining = 0
			if rate.Reset.After(now) {
				t.reset = rate.Reset
			} else {
				t.reset = now.Add(time.Minute)
			}
			f.mu.Unlock()
			// pick rotates to another token or waits for the reset.
		case vSecondary:
			if secondary++; secondary > f.cfg.MaxSecondaryRetries {
				return nil, fmt.Errorf("%w: %s %s: secondary limit after %d retries", ErrRateLimited, method, url, secondary-1)
			}
			d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now)
			if !ok {
				// "Otherwise, wait for at least one minute before
				// retrying", then back off exponentially.
				d = backoff(time.Minute, secondary, time.Hour)
			}
			if err := f.wait(ctx, repo, d); err != nil {
				return nil, err
			}
		case vRetry:
			if retries++; retries > f.cfg.MaxRetries {
				return nil, &StatusError{Status: resp.StatusCode, URL: url, Message: message(body)}
			}
			if err := f.wait(ctx, repo, backoff(time.Second, retries, time.Minute)); err != nil {
				return nil, err
			}
		default:
			return nil, &StatusError{Status: resp.StatusCode, URL: url, Message: message(body)}
		}
	}
}

// backoff returns base·2^(n-1), capped.
func backoff(base time.Duration, n int, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// noteRate records a response's quota for the token and the repository.
func (f *Fetcher) noteRate(repo string, t *token, r Rate) {
	if r.Remaining < 0 {
		return
	}
	f.mu.Lock()
	t.remaining, t.reset = r.Remaining, r.Reset
	f.mu.Unlock()
	f.update(repo, func(s *RepoStats) {
		s.QuotaLimit, s.QuotaRemaining, s.QuotaReset = r.Limit, r.Remaining, r.Reset
	})
}

// message returns GitHub's error message of body, or its start.
func message(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return m.Message
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

// isStatus reports whether err is a StatusError with one of the statuses.
func isStatus(err error, statuses ...int) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	for _, s := range statuses {
		if se.Status == s {
			return true
		}
	}
	return false
}
