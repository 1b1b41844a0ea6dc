package github_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/github"
)

func TestCheckEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event   string
		wantErr string // "" when valid, else a part of the message
	}{
		{"push", ""},
		{"pull_request_review_comment", ""},
		{"branch_protection_configuration", ""},
		{strings.Repeat("a", 64), ""},
		{"", "X-GitHub-Event is empty"},
		{strings.Repeat("a", 65), "longer than 64 bytes"},
		{"Push", `has "P" at byte 0`},
		{"pull-request", `has "-" at byte 4`},
		{"push ", `has " " at byte 4`},
		{"push\n", `has "\n" at byte 4`},
		{"issue2", `has "2" at byte 5`},
		{"pœsh", `has "\xc5" at byte 1`},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			t.Parallel()
			err := github.CheckEvent(tt.event)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckEvent(%q) = %v, want nil", tt.event, err)
				}
				return
			}
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("CheckEvent(%q) = %v, want an error wrapping ErrBadPayload", tt.event, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckEvent(%q) = %q, want it to say %q", tt.event, err, tt.wantErr)
			}
		})
	}
}

func TestCheckDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		delivery string
		ok       bool
	}{
		{"72d3162e-cc78-11e3-81ab-4c9367dc0958", true},
		{"x", true},
		{"~!@#$%^&*()_+", true},
		{"", false},
		{"a:b", false},
		{"a/b", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x7fb", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.delivery, func(t *testing.T) {
			t.Parallel()
			err := github.CheckDelivery(tt.delivery)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckDelivery(%q) = %v, want ok=%v", tt.delivery, err, tt.ok)
			}
			if err != nil && !errors.Is(err, github.ErrBadPayload) {
				t.Errorf("CheckDelivery(%q) = %v, does not wrap ErrBadPayload", tt.delivery, err)
			}
		})
	}
}

// TestCheckIncomingDelivery: a source refuses delivery ids longer than
// MaxDeliveryLen with a reason that says the bound and the length, and
// otherwise checks what CheckDelivery checks.
func TestCheckIncomingDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		delivery string
		wantErr  string // "" when accepted, else a part of the message
	}{
		{"GitHub GUID", "72d3162e-cc78-11e3-81ab-4c9367dc0958", ""},
		{"at the bound", strings.Repeat("d", github.MaxDeliveryLen), ""},
		{"one byte over", strings.Repeat("d", github.MaxDeliveryLen+1), "X-GitHub-Delivery is 129 bytes long; at most 128 are accepted"},
		{"60 KB", strings.Repeat("d", 60<<10), "is 61440 bytes long"},
		{"empty", "", "X-GitHub-Delivery is empty"},
		{"colon", "a:b", "is not printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := github.CheckIncomingDelivery(tt.delivery)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckIncomingDelivery = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("CheckIncomingDelivery = %v, want an error wrapping ErrBadPayload", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckIncomingDelivery = %q, want it to say %q", err, tt.wantErr)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long: it must not carry the value", len(err.Error()))
			}
		})
	}
	// Parsers keep accepting long ids: records stored before the bound
	// must replay as they did.
	if err := github.CheckDelivery(strings.Repeat("d", 60<<10)); err != nil {
		t.Errorf("CheckDelivery refused a long id: %v", err)
	}
}

// TestReason: the reason of every refusal is the sentence after the
// package's own prefix, so a source can hand it to a client.
func TestReason(t *testing.T) {
	t.Parallel()
	_, notJSON := github.DecodeBody("application/json", []byte("{nope"))
	_, noField := github.DecodeBody("application/x-www-form-urlencoded", []byte("zen=1"))
	_, ct := github.DecodeBody("text/plain", []byte("{}"))
	tests := []struct {
		err  error
		want string
	}{
		{notJSON, "payload is not valid JSON"},
		{noField, "form body has no payload field"},
		{ct, `unsupported content type: "text/plain"`},
		{github.CheckEvent("a b"), `X-GitHub-Event "a b" has " " at byte 1: GitHub's event names are lowercase letters and underscores`},
		{github.CheckIncomingDelivery(strings.Repeat("d", 200)), "X-GitHub-Delivery is 200 bytes long; at most 128 are accepted (GitHub's delivery ids are 36-character GUIDs)"},
	}
	for _, tt := range tests {
		if got := github.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
