package koiapi

import (
	"testing"
	"time"

	"github.com/koistream/koistream/topics/koi"
)

// TestV1HandshakeSender: a bare broadcast names its sender only when it is
// a 1.0 handshake.
func TestV1HandshakeSender(t *testing.T) {
	const x = "orn:koi-net.node:legacy+9f90e37e-bc8f-417a-872b-cd6e8a38d46f"
	const y = "orn:koi-net.node:other+0f90e37e-bc8f-417a-872b-cd6e8a38d46f"
	newEv := func(rid string) koi.Event {
		b, err := koi.NewBundle(rid, []byte(`{"node_type":"FULL"}`), time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		return koi.NewBundleEvent(koi.EventNew, b)
	}
	issue := newEv("orn:github.issue:o/r:1")
	for _, tc := range []struct {
		name   string
		events []koi.Event
		want   string
	}{
		{"forget then new", []koi.Event{koi.NewForgetEvent(x), newEv(x)}, x},
		{"new alone", []koi.Event{newEv(x)}, x},
		{"forget of another node", []koi.Event{koi.NewForgetEvent(y), newEv(x)}, ""},
		{"new without contents", []koi.Event{{RID: x, EventType: koi.EventNew}}, ""},
		{"not a node", []koi.Event{issue}, ""},
		{"more events", []koi.Event{koi.NewForgetEvent(x), newEv(x), issue}, ""},
		{"none", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := v1HandshakeSender(tc.events); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
