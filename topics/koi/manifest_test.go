package koi_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/koi"
)

func TestNewManifest(t *testing.T) {
	v := readVectors(t)
	contents := vectorContents(t, v)
	ts := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	const rid = "orn:github.issue:octo/hello:1"
	m, err := koi.NewManifest(rid, contents, ts)
	if err != nil {
		t.Fatal(err)
	}
	want := koi.Manifest{RID: rid, Timestamp: "2025-01-02T03:04:05.123456Z", SHA256Hash: v["CONTENTS_SHA256"]}
	if m != want {
		t.Errorf("NewManifest = %+v, want %+v", m, want)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"rid":"orn:github.issue:octo/hello:1","timestamp":"2025-01-02T03:04:05.123456Z","sha256_hash":"` + v["CONTENTS_SHA256"] + `"}`
	if string(b) != wantJSON {
		t.Errorf("json = %s, want %s", b, wantJSON)
	}
}

func TestNewManifestErrors(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		rid      string
		contents string
		want     error
	}{
		{"bad rid", "orn:nope", `{}`, koi.ErrInvalidRID},
		{"bad contents", "orn:x:y", `{"a":}`, koi.ErrInvalidJSON},
		{"duplicate key", "orn:x:y", `{"a":1,"a":2}`, koi.ErrDuplicateKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := koi.NewManifest(tc.rid, []byte(tc.contents), ts)
			if !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
			if _, err := koi.NewBundle(tc.rid, []byte(tc.contents), ts); !errors.Is(err, tc.want) {
				t.Errorf("NewBundle error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBundleKeepsContentsVerbatim(t *testing.T) {
	contents := []byte(`{"z":null,"a":1.0,"m":{"y":[],"x":"<&>"}}`)
	b, err := koi.NewBundle("orn:github.repo:octo/hello", contents, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if string(b.Contents) != string(contents) {
		t.Errorf("Contents = %s, want %s", b.Contents, contents)
	}
	got, err := koi.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"manifest":{"rid":"orn:github.repo:octo/hello","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"` + b.Manifest.SHA256Hash + `"},"contents":{"z":null,"a":1.0,"m":{"y":[],"x":"<&>"}}}`
	if string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	var back koi.Bundle
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if string(back.Contents) != string(contents) || back.Manifest != b.Manifest {
		t.Errorf("round trip = %+v / %s", back.Manifest, back.Contents)
	}
}
