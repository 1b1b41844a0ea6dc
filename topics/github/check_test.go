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
