package koinet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/koistream/koistream/stages/koinet"
	"github.com/koistream/koistream/topics/koi"
	wire "github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/observed"
)

// refObs is an observation as the reference model derives it.
type refObs struct {
	rid      string
	op       observed.Op
	contents any // decoded with UseNumber; nil for a forget
}

// decodeAny decodes b with encoding/json, numbers kept as json.Number.
func decodeAny(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// reference is the parser's rules applied to body, a bare events_payload,
// through encoding/json's generic decoding rather than the koi decoder and
// the parser's own scanning: ok is false where the parser must refuse.
func reference(body []byte, receiver string) (out []refObs, ok bool) {
	if !utf8.Valid(body) || !json.Valid(body) {
		return nil, false
	}
	v, err := decodeAny(body)
	if err != nil {
		return nil, false
	}
	top, isObj := v.(map[string]any)
	if !isObj {
		return nil, false
	}
	if t, has := top["type"]; has && t != nil && t != koi.PayloadTypeEventsPayload {
		return nil, false
	}
	events, isArr := top["events"].([]any)
	if !isArr {
		return nil, false
	}
	str := func(m map[string]any, k string) (string, bool) {
		switch x := m[k].(type) {
		case nil:
			return "", true
		case string:
			return x, true
		}
		return "", false
	}
	for _, e := range events {
		ev, isObj := e.(map[string]any)
		if !isObj {
			return nil, false
		}
		rid, good := str(ev, "rid")
		if !good || rid == "" {
			return nil, false
		}
		et, good := str(ev, "event_type")
		if !good || !koi.EventType(et).Valid() {
			return nil, false
		}
		if m, has := ev["manifest"]; has && m != nil {
			mo, isObj := m.(map[string]any)
			if !isObj {
				return nil, false
			}
			for _, k := range []string{"timestamp", "sha256_hash"} {
				if _, good := str(mo, k); !good {
					return nil, false
				}
			}
			if mr, good := str(mo, "rid"); !good || mr != rid {
				return nil, false
			}
		}
		if _, err := koi.ParseRID(rid); err != nil {
			return nil, false
		}
		c, has := ev["contents"]
		if has && c != nil {
			if _, isObj := c.(map[string]any); !isObj {
				return nil, false
			}
		}
		if rid == receiver {
			continue
		}
		if et == string(koi.EventForget) {
			out = append(out, refObs{rid: rid, op: observed.OpForget})
			continue
		}
		if co, isObj := c.(map[string]any); isObj && len(co) > 0 {
			if !refTrustedProfile(rid, co) {
				continue // a forged node profile (TrustedProfile)
			}
			out = append(out, refObs{rid: rid, op: observed.OpUpsert, contents: co})
		}
	}
	return out, true
}

// FuzzParse: the parser never panics, refuses only with ErrMalformed, and
// on bare payloads agrees with the reference model over encoding/json:
// it accepts exactly what the model accepts, with the same observations,
// whose contents are the bytes received (a slice of the body that decodes
// to the model's value). A signed envelope parses as its payload does.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
		var env struct {
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(b, &env) == nil && env.Payload != nil {
			f.Add([]byte(env.Payload), false)
		}
	}
	f.Add([]byte(`{"events":[{"rid":"orn:a.b:c","event_type":"NEW","contents":{}}]}`), false)
	f.Add([]byte(`{"events":[{"rid":"orn:a.b:c","event_type":"NEW","manifest":{"rid":"orn:a.b:d"},"contents":{"x":1}}]}`), false)
	f.Add([]byte(`{"events":[{"rid":"`+local+`","event_type":"FORGET"}],"type":null}`), false)
	f.Add([]byte(`{"events":[{"RID":"orn:a.b:c","rid":"orn:a.b:c","event_type":"UPDATE","contents":{"a":[1,{"b":null}]}}]}`), false)
	f.Fuzz(func(t *testing.T, body []byte, fetch bool) {
		if len(body) == 0 {
			return
		}
		via := wire.ViaBroadcast
		if fetch {
			via = wire.ViaFetch
		}
		msg, err := wire.NewMessage(wire.Input{Receiver: local, Via: via, Body: body, ReceivedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		rec := record(t, wire.Input{Receiver: local, Via: via, Body: msg.Payload})
		got, err := koinet.Parse(context.Background(), rec)
		if err != nil && !errors.Is(err, koinet.ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		for _, o := range got {
			if _, err := observed.NewMessage(completed(o)); err != nil {
				t.Fatalf("the parser's observation is not a valid observed record: %v", err)
			}
		}
		payload, perr := koinet.PayloadOf(body)
		if perr == nil && !bytes.Equal(payload, body) {
			// An envelope: the same observations as its payload alone.
			again, err2 := koinet.Parse(context.Background(), record(t, wire.Input{Receiver: local, Via: via, Body: payload}))
			if (err == nil) != (err2 == nil) || !reflect.DeepEqual(got, again) {
				t.Fatalf("envelope parsed to %+v (%v), its payload to %+v (%v)", got, err, again, err2)
			}
			return
		}
		if fetch || perr != nil {
			return
		}
		want, ok := reference(body, local)
		if ok != (err == nil) {
			t.Fatalf("parser error %v, reference model accepts: %v", err, ok)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d observations, reference %d: %+v vs %+v", len(got), len(want), got, want)
		}
		for i, w := range want {
			o := got[i]
			if o.RID != w.rid || o.Op != w.op {
				t.Fatalf("observation %d: %s %s, reference %s %s", i, o.RID, o.Op, w.rid, w.op)
			}
			if w.op == observed.OpForget {
				if len(o.Contents) != 0 {
					t.Fatalf("forget %d with contents %s", i, o.Contents)
				}
				continue
			}
			if !bytes.Contains(body, o.Contents) {
				t.Fatalf("contents %q are not bytes of the body", o.Contents)
			}
			v, err := decodeAny(o.Contents)
			if err != nil || !reflect.DeepEqual(v, w.contents) {
				t.Fatalf("contents %s decode to %v (%v), reference %v", o.Contents, v, err, w.contents)
			}
		}
	})
}

// completed fills in what the normalize stage adds, so that the
// observation can be checked as a record.
func completed(o observed.Observation) observed.Observation {
	o.Source, o.SourceKey, o.ReceivedAt = wire.SourceKind, "k", at
	return o
}

// refTrustedProfile is TrustedProfile over the encoding/json model: node
// RIDs of 1.1+ form need a public_key string whose hash is theirs.
func refTrustedProfile(rid string, contents map[string]any) bool {
	if t, err := koi.RIDType(rid); err != nil || t != koi.TypeKoiNetNode {
		return true
	}
	n, err := koi.ParseNodeRID(rid)
	if err != nil {
		return false
	}
	if n.Legacy() {
		return true
	}
	pub, _ := contents["public_key"].(string)
	return koi.CheckNodeKey(rid, pub) == nil
}
