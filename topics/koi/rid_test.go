package koi_test

import (
	"errors"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

func TestParseRID(t *testing.T) {
	tests := []struct {
		in       string
		want     koi.RID
		wantType string
	}{
		{"orn:github.issue:octo/hello:1", koi.RID{Scheme: "orn", Namespace: "github.issue", Reference: "octo/hello:1"}, "orn:github.issue"},
		{"orn:slack.message:TMQ3PKXT9/C0175M3GLSU/1698205575.367209", koi.RID{Scheme: "orn", Namespace: "slack.message", Reference: "TMQ3PKXT9/C0175M3GLSU/1698205575.367209"}, "orn:slack.message"},
		{"orn:koi-net.node:github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2", koi.RID{Scheme: "orn", Namespace: "koi-net.node", Reference: "github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"}, koi.TypeKoiNetNode},
		{"orn:koi-net.edge:660e330b535732bf71d162748318152eaf812956b27fe8efd5bc803b5d6a4df5", koi.RID{Scheme: "orn", Namespace: "koi-net.edge", Reference: "660e330b535732bf71d162748318152eaf812956b27fe8efd5bc803b5d6a4df5"}, koi.TypeKoiNetEdge},
		{"urn:isbn:0451450523", koi.RID{Scheme: "urn", Namespace: "isbn", Reference: "0451450523"}, "urn:isbn"},
		{"https://github.com/BlockScience/rid-lib/", koi.RID{Scheme: "https", Reference: "//github.com/BlockScience/rid-lib/"}, "https"},
		{"http://x/y:z", koi.RID{Scheme: "http", Reference: "//x/y:z"}, "http"},
		{"orn:a:b:c::d", koi.RID{Scheme: "orn", Namespace: "a", Reference: "b:c::d"}, "orn:a"},
		{"orn:ns::", koi.RID{Scheme: "orn", Namespace: "ns", Reference: ":"}, "orn:ns"},
		{"ORN:x:y", koi.RID{Scheme: "ORN", Reference: "x:y"}, "ORN"}, // scheme match is case-sensitive, as in rid-lib
		{"x:y", koi.RID{Scheme: "x", Reference: "y"}, "x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := koi.ParseRID(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseRID = %#v, want %#v", got, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("String = %q, want %q", s, tc.in)
			}
			if typ := got.Type(); typ != tc.wantType {
				t.Errorf("Type = %q, want %q", typ, tc.wantType)
			}
			typ, err := koi.RIDType(tc.in)
			if err != nil || typ != tc.wantType {
				t.Errorf("RIDType = %q, %v, want %q", typ, err, tc.wantType)
			}
		})
	}
}

func TestParseRIDErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"no colon", "test"},
		{"empty scheme", ":x"},
		{"empty reference", "https:"},
		{"orn without namespace", "orn:test"},
		{"urn without namespace", "urn:test"},
		{"orn empty namespace", "orn::x"},
		{"orn empty reference", "orn:ns:"},
		{"bare orn", "orn:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rid, err := koi.ParseRID(tc.in)
			if !errors.Is(err, koi.ErrInvalidRID) {
				t.Errorf("ParseRID(%q) = %#v, %v; want ErrInvalidRID", tc.in, rid, err)
			}
			if _, err := koi.RIDType(tc.in); !errors.Is(err, koi.ErrInvalidRID) {
				t.Errorf("RIDType(%q) error = %v, want ErrInvalidRID", tc.in, err)
			}
		})
	}
}

func TestRIDZero(t *testing.T) {
	if s := (koi.RID{}).String(); s != "" {
		t.Errorf("zero RID String = %q, want empty", s)
	}
}

func TestRIDVectors(t *testing.T) {
	v := readVectors(t)
	tests := []struct {
		key, wantType string
	}{
		{"NODE_RID", koi.TypeKoiNetNode},
		{"EDGE_RID(source=NODE_RID,target=coordinator)", koi.TypeKoiNetEdge},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			s, ok := v[tc.key]
			if !ok {
				t.Fatalf("vector %s missing", tc.key)
			}
			rid, err := koi.ParseRID(s)
			if err != nil {
				t.Fatal(err)
			}
			if rid.Type() != tc.wantType || rid.String() != s {
				t.Errorf("ParseRID(%q) = %#v", s, rid)
			}
		})
	}
}

func FuzzParseRID(f *testing.F) {
	for _, s := range []string{
		"orn:github.issue:octo/hello:1", "https://x/y", "orn:test", "orn::x", ":", "", "urn:a:b:c", "ORN:x:y", "orn:ns::",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rid, err := koi.ParseRID(s)
		if err != nil {
			if !errors.Is(err, koi.ErrInvalidRID) {
				t.Fatalf("error %v does not wrap ErrInvalidRID", err)
			}
			return
		}
		if rid.String() != s {
			t.Fatalf("String() = %q, want input %q", rid.String(), s)
		}
		again, err := koi.ParseRID(rid.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", rid.String(), err)
		}
		if again != rid {
			t.Fatalf("re-parse = %#v, want %#v", again, rid)
		}
		if rid.Scheme == "" || rid.Reference == "" {
			t.Fatalf("parsed RID with empty part: %#v", rid)
		}
		typ, err := koi.RIDType(s)
		if err != nil || typ != rid.Type() {
			t.Fatalf("RIDType = %q, %v; want %q", typ, err, rid.Type())
		}
	})
}
