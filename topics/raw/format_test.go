package raw_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/raw"
)

// errKind stands for a source package's ErrInvalid.
var errKind = errors.New("kind: invalid record")

// TestFormatNewMessage: Format.NewMessage writes the format's source kind
// whatever the record says, the default content type only where the record
// has none, and wraps raw's refusals in the format's sentinel, so that
// errors.Is holds for both.
func TestFormatNewMessage(t *testing.T) {
	t.Parallel()
	f := raw.Format{Source: "kind", Invalid: errKind, ContentType: "application/json"}
	ok := raw.Record{Key: "k", ReceivedAt: at, Body: []byte(`{}`)}
	tests := []struct {
		name    string
		f       raw.Format
		edit    func(*raw.Record)
		wantCT  string // content type of the message, when it is written
		wantErr string // what the error says; empty for none
	}{
		{name: "default content type", f: f, edit: func(*raw.Record) {}, wantCT: "application/json"},
		{name: "record's content type kept", f: f, edit: func(r *raw.Record) { r.ContentType = "text/plain" }, wantCT: "text/plain"},
		{name: "record's source kind overwritten", f: f, edit: func(r *raw.Record) { r.Source = "other" }, wantCT: "application/json"},
		{name: "no default content type", f: raw.Format{Source: "kind", Invalid: errKind}, edit: func(*raw.Record) {}, wantCT: ""},
		{name: "no key", f: f, edit: func(r *raw.Record) { r.Key = "" },
			wantErr: `kind: invalid record: raw: invalid record: "kind" input without a key`},
		{name: "no receive time", f: f, edit: func(r *raw.Record) { r.ReceivedAt = time.Time{} },
			wantErr: `kind: invalid record: raw: invalid record "k": no receive time`},
		{name: "format without a source kind", f: raw.Format{Invalid: errKind}, edit: func(*raw.Record) {},
			wantErr: `kind: invalid record: raw: invalid record "k": no source kind`},
		{name: "format without a sentinel", f: raw.Format{Source: "kind"}, edit: func(r *raw.Record) { r.ReceivedAt = time.Time{} },
			wantErr: `raw: invalid record "k": no receive time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			tt.edit(&r)
			msg, err := tt.f.NewMessage(r)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("NewMessage = %v, want an error saying %q", msg.Metadata, tt.wantErr)
				}
				if got := err.Error(); got != tt.wantErr {
					t.Errorf("error %q, want %q", got, tt.wantErr)
				}
				if !errors.Is(err, raw.ErrInvalid) {
					t.Errorf("error %v does not wrap raw.ErrInvalid", err)
				}
				if tt.f.Invalid != nil && !errors.Is(err, tt.f.Invalid) {
					t.Errorf("error %v does not wrap the format's sentinel", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewMessage: %v", err)
			}
			md := msg.Metadata
			if got := md.Get(raw.HeaderSource); got != tt.f.Source {
				t.Errorf("source kind %q, want %q", got, tt.f.Source)
			}
			if got, has := md[raw.HeaderContentType]; got != tt.wantCT || !has {
				t.Errorf("content type %q (present %v), want %q", got, has, tt.wantCT)
			}
			if got := md.Get(topics.RecordKey); got != r.Key {
				t.Errorf("key %q, want %q", got, r.Key)
			}
			rec, err := raw.Parse(msg)
			if err != nil {
				t.Fatalf("raw.Parse: %v", err)
			}
			if err := tt.f.Check(rec); err != nil {
				t.Errorf("Check of the format's own message: %v", err)
			}
		})
	}
}

// TestFormatCheck: Format.Check passes only records of the format's
// source kind, and refuses the others with the format's sentinel (not
// raw's, which would claim the record is not a raw record), quoting the
// kind cut to 80 characters.
func TestFormatCheck(t *testing.T) {
	t.Parallel()
	f := raw.Format{Source: "kind", Invalid: errKind}
	tests := []struct {
		name    string
		f       raw.Format
		source  string
		wantErr string // the whole error text; empty for none
		wantRaw bool   // the error wraps raw.ErrInvalid
	}{
		{name: "own kind", f: f, source: "kind"},
		{name: "another kind", f: f, source: "publish", wantErr: `kind: invalid record: source kind "publish"`},
		{name: "no kind", f: f, source: "", wantErr: `kind: invalid record: source kind ""`},
		{name: "case matters", f: f, source: "Kind", wantErr: `kind: invalid record: source kind "Kind"`},
		{name: "long kind cut", f: f, source: strings.Repeat("x", 1000),
			wantErr: `kind: invalid record: source kind "` + strings.Repeat("x", 80) + `"`},
		{name: "format without a source kind", f: raw.Format{Invalid: errKind}, source: "",
			wantErr: `kind: invalid record: source kind ""`},
		{name: "format without a sentinel", f: raw.Format{Source: "kind"}, source: "other",
			wantErr: `raw: invalid record: source kind "other"`, wantRaw: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.f.Check(raw.Record{Key: "k", Source: tt.source, ReceivedAt: at, Body: []byte(`{}`)})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check = nil, want an error saying %q", tt.wantErr)
			}
			if got := err.Error(); got != tt.wantErr {
				t.Errorf("error %q, want %q", got, tt.wantErr)
			}
			if tt.f.Invalid != nil && !errors.Is(err, tt.f.Invalid) {
				t.Errorf("error %v does not wrap the format's sentinel", err)
			}
			if got := errors.Is(err, raw.ErrInvalid); got != tt.wantRaw {
				t.Errorf("errors.Is(err, raw.ErrInvalid) = %v, want %v", got, tt.wantRaw)
			}
		})
	}
}
