package stages_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// step is one observation fed to ridify and what it must emit.
type step struct {
	op       string
	contents string
	offset   int64
	at       time.Time
	want     string // "", "NEW", "UPDATE" or "FORGET"
}

func TestRidifyEventTypes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	const a, b = `{"title":"a","n":1}`, `{"n":1.0, "title":"b"}`
	const eventRID = "orn:github.event:octo/hello:72d3162e-cc78-11e3-81ab-4c9367dc0958"
	t1 := t0.Add(time.Second)
	cases := []struct {
		name  string
		steps []step
		rid   string // default an issue RID
	}{
		{"an event RID is NEW at its receive time, with no state kept", []step{{"upsert", a, 0, t0, "NEW"}, {"upsert", a, 1, t1, "NEW"}, {"upsert", a, 0, t0, "NEW"}}, eventRID},
		{"a forget of an event RID emits nothing", []step{{"upsert", a, 0, t0, "NEW"}, {"forget", "", 1, t1, ""}}, eventRID},
		{"first sight is NEW", []step{{"upsert", a, 0, t0, "NEW"}}, ""},
		{"same contents emit nothing", []step{{"upsert", a, 0, t0, "NEW"}, {"upsert", a, 1, t0, ""}}, ""},
		{"same canonical form emits nothing", []step{{"upsert", `{"n":1,"title":"a"}`, 0, t0, "NEW"}, {"upsert", `{"title": "a", "n": 1.0}`, 1, t0, ""}}, ""},
		{"both spellings of one canonical form emit nothing", []step{{"upsert", `{"n":1,"title":"a"}`, 0, t0, "NEW"}, {"upsert", `{"title": "a", "n": 1.0}`, 1, t0, ""}, {"upsert", `{"n":1,"title":"a"}`, 2, t0, ""}, {"upsert", `{"title": "a", "n": 1.0}`, 3, t0, ""}}, ""},
		{"back to earlier bytes is an UPDATE", []step{{"upsert", a, 0, t0, "NEW"}, {"upsert", b, 1, t0, "UPDATE"}, {"upsert", a, 2, t0, "UPDATE"}}, ""},
		{"other contents are UPDATE", []step{{"upsert", a, 0, t0, "NEW"}, {"upsert", b, 1, t0, "UPDATE"}}, ""},
		{"forget of a known RID", []step{{"upsert", a, 0, t0, "NEW"}, {"forget", "", 1, t0, "FORGET"}}, ""},
		{"forget of an unknown RID emits nothing", []step{{"forget", "", 0, t0, ""}}, ""},
		{"forget twice emits once", []step{{"upsert", a, 0, t0, "NEW"}, {"forget", "", 1, t0, "FORGET"}, {"forget", "", 2, t0, ""}}, ""},
		{"after a forget it is NEW again", []step{{"upsert", a, 0, t0, "NEW"}, {"forget", "", 1, t0, "FORGET"}, {"upsert", a, 2, t0, "NEW"}}, ""},
		{"a retry of the same record re-emits the same event", []step{{"upsert", a, 0, t0, "NEW"}, {"upsert", a, 0, t0, "NEW"}}, ""},
		{"an older record replayed is skipped", []step{{"upsert", a, 5, t0, "NEW"}, {"upsert", b, 6, t0, "UPDATE"}, {"upsert", a, 5, t0, ""}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStage(t, stages.RidifyName, openState(t))
			rid := c.rid
			if rid == "" {
				rid = "orn:github.issue:octo/hello:7"
			}
			var prev []koiEvent
			for i, s := range c.steps {
				ctx, in := observation(rid, s.op, s.contents, 3, s.offset, s.at)
				out, err := st.Process(ctx, in)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				evs := decodeEvents(t, out)
				if s.want == "" {
					if len(evs) != 0 {
						t.Fatalf("step %d: emitted %+v, want nothing", i, evs)
					}
					continue
				}
				if len(evs) != 1 || evs[0].EventType != s.want || evs[0].RID != rid {
					t.Fatalf("step %d: emitted %+v, want one %s", i, evs, s.want)
				}
				if got := out[0].Metadata.Get(topics.RecordKey); got != rid {
					t.Fatalf("step %d: key %q, want the RID", i, got)
				}
				if s.want == "FORGET" {
					if evs[0].Manifest != nil || evs[0].Contents != nil {
						t.Fatalf("step %d: FORGET carries manifest or contents: %s", i, out[0].Payload)
					}
					continue
				}
				wantHash, err := koi.Hash([]byte(s.contents))
				if err != nil {
					t.Fatal(err)
				}
				if evs[0].Manifest.SHA256Hash != wantHash || !bytes.Equal(evs[0].Contents, []byte(s.contents)) {
					t.Fatalf("step %d: manifest %+v contents %s; want hash %s and contents as observed", i, evs[0].Manifest, evs[0].Contents, wantHash)
				}
				if rid == eventRID && evs[0].Manifest.Timestamp != koi.FormatTimestamp(s.at) {
					t.Fatalf("step %d: timestamp %s, want the receive time %s", i, evs[0].Manifest.Timestamp, koi.FormatTimestamp(s.at))
				}
				if len(prev) == 1 && prev[0].Manifest != nil && s.offset > c.steps[i-1].offset {
					cur, _ := koi.ParseTimestamp(evs[0].Manifest.Timestamp)
					old, _ := koi.ParseTimestamp(prev[0].Manifest.Timestamp)
					if !cur.After(old) {
						t.Fatalf("step %d: timestamp %s not after %s", i, evs[0].Manifest.Timestamp, prev[0].Manifest.Timestamp)
					}
				}
				prev = evs
			}
		})
	}
}

// TestRidifyManifest pins the manifest against the shared KOI-net vector
// and the timestamp format Python nodes re-print.
func TestRidifyManifest(t *testing.T) {
	t.Parallel()
	st := newStage(t, stages.RidifyName, openState(t))
	contents := `{"webhook_event_type":"issues","action":"opened","payload":{"number":1,"title":"héllo 😀","closed_at":null,"score":1.0,"labels":[]}}`
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	ctx, in := observation("orn:github.issue:octo/hello:1", "upsert", contents, 0, 0, at)
	out, err := st.Process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	evs := decodeEvents(t, out)
	if got := evs[0].Manifest; got.SHA256Hash != "c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17" ||
		got.Timestamp != "2025-01-02T03:04:05.123456Z" || got.RID != "orn:github.issue:octo/hello:1" {
		t.Fatalf("manifest %+v", got)
	}
	if rk := out[0].Metadata.Get(events.HeaderRoutingKey); rk != "ent.issue.insert" {
		t.Fatalf("routing key %q", rk)
	}
}

// TestRidifyTimestampsIncrease: a later observation received at the same
// or an earlier instant still gets a strictly later manifest timestamp,
// since KOI-net peers ignore updates that are not newer.
func TestRidifyTimestampsIncrease(t *testing.T) {
	t.Parallel()
	st := newStage(t, stages.RidifyName, openState(t))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last time.Time
	for i, c := range []string{`{"v":1}`, `{"v":2}`, `{"v":3}`} {
		ctx, in := observation("orn:github.repo:o/r", "upsert", c, 0, int64(i), at.Add(-time.Duration(i)*time.Second))
		out, err := st.Process(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := koi.ParseTimestamp(decodeEvents(t, out)[0].Manifest.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		if !last.IsZero() && !ts.After(last) {
			t.Fatalf("observation %d: timestamp %s not after %s", i, ts, last)
		}
		last = ts
	}
}

func TestRidifyRejectsBadObservations(t *testing.T) {
	t.Parallel()
	at := time.Now()
	cases := []struct {
		name, rid, op, contents string
	}{
		{"no RID", "", "upsert", `{}`},
		{"malformed RID", "not-a-rid", "upsert", `{}`},
		{"unknown op", "orn:github.repo:o/r", "merge", `{}`},
		{"contents not JSON", "orn:github.repo:o/r", "upsert", `{"a":`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStage(t, stages.RidifyName, openState(t))
			ctx, in := observation(c.rid, c.op, c.contents, 0, 0, at)
			if _, err := st.Process(ctx, in); !stages.IsPermanent(err) {
				t.Fatalf("error %v, want a permanent error", err)
			}
		})
	}
}

// TestRidifyEventRecords pins the events records ridify writes: the value
// byte for byte as the build before koi.Event.AppendJSON assembled it by
// hand (contents verbatim, whitespace and all), the key, the event headers
// and the observation's headers carried along.
func TestRidifyEventRecords(t *testing.T) {
	t.Parallel()
	st := newStage(t, stages.RidifyName, openState(t))
	const rid = "orn:github.issue:octo/hello:1"
	contents := "{\"title\": \"h\u00e9llo \\u00e9\",  \"n\":1}"
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	hash, err := koi.Hash([]byte(contents))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op, contents string
		value        string
		eventType    string
		routingKey   string
	}{
		{"upsert", contents, `{"rid":"orn:github.issue:octo/hello:1","event_type":"NEW","manifest":{"rid":"orn:github.issue:octo/hello:1","timestamp":"2025-01-02T03:04:05.123456Z","sha256_hash":"` + hash + `"},"contents":` + contents + `}`, "NEW", "ent.issue.insert"},
		{"forget", "", `{"rid":"orn:github.issue:octo/hello:1","event_type":"FORGET"}`, "FORGET", "ent.issue.delete"},
	}
	for i, s := range steps {
		ctx, in := observation(rid, s.op, s.contents, 0, int64(i), at)
		out, err := st.Process(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 {
			t.Fatalf("step %d: %d events", i, len(out))
		}
		if string(out[0].Payload) != s.value {
			t.Errorf("step %d: value\n got %s\nwant %s", i, out[0].Payload, s.value)
		}
		rec, err := events.Parse(out[0])
		if err != nil {
			t.Fatal(err)
		}
		if string(rec.EventType) != s.eventType || rec.RoutingKey != s.routingKey {
			t.Errorf("step %d: event type %s routing key %s, want %s %s", i, rec.EventType, rec.RoutingKey, s.eventType, s.routingKey)
		}
		o := rec.Observation
		if out[0].Metadata.Get(topics.RecordKey) != rid || o.RID != rid || o.Op != observed.Op(s.op) || o.Routing != "ent.issue" ||
			o.SourceKey != "delivery-1" || o.RawOffset != 7 || !o.ReceivedAt.Equal(at) {
			t.Errorf("step %d: key %q, observation headers %+v", i, out[0].Metadata.Get(topics.RecordKey), o)
		}
	}
}

// TestRidifyRepeatsForTargets: an unchanged upsert that names targets (our
// profile for a node that just introduced itself) is announced again, as
// the same event marked a repeat, and changes nothing: the next unchanged
// upsert without targets still emits nothing, and a change is an UPDATE.
func TestRidifyRepeatsForTargets(t *testing.T) {
	t.Parallel()
	const rid = "orn:koi-net.node:sensor+" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	st := newStage(t, stages.RidifyName, openState(t))
	steps := []struct {
		name, contents string
		targets        string
		want           string // event type, "" for nothing
		repeat         bool
	}{
		{"first sight", `{"a":1}`, "", "NEW", false},
		{"unchanged for a newcomer", `{"a":1}`, "orn:koi-net.node:newcomer+00", "NEW", true},
		{"unchanged for nobody", `{"a":1}`, "", "", false},
		{"changed", `{"a":2}`, "orn:koi-net.node:newcomer+00", "UPDATE", false},
	}
	var first koiEvent
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ctx, in := observation(rid, "upsert", s.contents, 0, int64(i), t0.Add(time.Duration(i)*time.Second))
			if s.targets != "" {
				in.Metadata[observed.HeaderTargets] = s.targets
			}
			out, err := st.Process(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			evs := decodeEvents(t, out)
			if s.want == "" {
				if len(evs) != 0 {
					t.Fatalf("emitted %+v, want nothing", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].EventType != s.want {
				t.Fatalf("emitted %+v, want one %s", evs, s.want)
			}
			if got := out[0].Metadata.Get(events.HeaderRepeat) == "true"; got != s.repeat {
				t.Errorf("repeat header %v, want %v", got, s.repeat)
			}
			if got := out[0].Metadata.Get(observed.HeaderTargets); got != s.targets {
				t.Errorf("targets header %q, want %q", got, s.targets)
			}
			if i == 0 {
				first = evs[0]
			}
			if s.repeat && (evs[0].Manifest.Timestamp != first.Manifest.Timestamp || evs[0].Manifest.SHA256Hash != first.Manifest.SHA256Hash) {
				t.Errorf("repeat manifest %+v, want the first announcement's %+v", evs[0].Manifest, first.Manifest)
			}
		})
	}
}
