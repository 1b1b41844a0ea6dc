package main

import (
	"bytes"
	stdjson "encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzParseStreamLine: a line of the stream is accepted only when
// encoding/json finds it valid JSON, and every JSON object encoding/json
// accepts is accepted unless a member the node sets has the wrong type.
func FuzzParseStreamLine(f *testing.F) {
	for _, s := range []string{ping, lookalike, ev(1, 1), `{"error":"fell behind","pubsub_cursor":"c"}`, `{}`, `[1]`, `{"a":"\xff"}`, `{"a":1,"a":2}`, `{"a":`, ` {"b":null} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := parseStreamLine(line)
		valid := stdjson.Valid(line)
		isObject := len(bytes.TrimLeft(line, " \t\r\n")) > 0 && bytes.TrimLeft(line, " \t\r\n")[0] == '{'
		if err == nil && !(valid && isObject) {
			t.Fatalf("accepted %q, which encoding/json does not take for an object", line)
		}
		typed := bytes.Contains(line, []byte("pubsub_cursor")) || bytes.Contains(line, []byte("pubsub_timestamp")) || bytes.Contains(line, []byte(`\u`))
		if err != nil && valid && isObject && !typed {
			t.Fatalf("refused %q, a JSON object: %v", line, err)
		}
		if _, cut := ev.cutOff(); err == nil && ev.Path != nil && (ev.isPing() || cut) {
			t.Fatalf("%q carries a pubsub_path but reads as a ping or a cut-off", line)
		}
	})
}

// FuzzReadObject: publish's check of stdin agrees with encoding/json on
// what is one JSON object.
func FuzzReadObject(f *testing.F) {
	for _, s := range []string{"{}", "{\n\"a\": [1, 2]\n}\n", "[1]", "", " ", `{"a":1} {}`, `{"a":`, `{"\xff":1}`, `{"a":1,"a":2}`, "\ufeff{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := readObject(bytes.NewReader(in))
		trimmed := bytes.TrimLeft(in, " \t\r\n")
		want := stdjson.Valid(in) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != want {
			t.Fatalf("readObject(%q): err %v, encoding/json says one object: %v", in, err, want)
		}
		if err == nil && !bytes.Equal(got, in) {
			t.Fatalf("readObject changed the input")
		}
	})
}

// FuzzParseTimeFlag: an accepted epoch value renders back, through
// epochString, to the same instant, and no input panics.
func FuzzParseTimeFlag(f *testing.F) {
	for _, s := range []string{"0", "1795368272", "1795368272.25", "2026-11-28T12:00:00.5+02:00", "1e9", "-1", "12.", ".5", "99999999999999999999", "1.0000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTimeFlag("since", s)
		if err != nil {
			return
		}
		back, err := parseTimeFlag("since", epochString(tm))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, tm, epochString(tm), back, err)
		}
		if !strings.Contains(s, "T") && !strings.Contains(s, "t") && tm.Before(time.Unix(0, 0)) {
			t.Fatalf("epoch %q gave %v, before 1970", s, tm)
		}
	})
}

// FuzzParseHookInput: accepted input gives updates whose names are object
// names of one length, never both zero, and no input panics.
func FuzzParseHookInput(f *testing.F) {
	z := strings.Repeat("0", 40)
	a := strings.Repeat("a", 40)
	for _, s := range []string{z + " " + a + " refs/heads/main\n", a + " " + z + " refs/tags/v1\r\n\n", z + " " + z + " r", a + " " + a[:39] + " r", "x y z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ups, err := parseHookInput(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, u := range ups {
			if !isObjectName(u.Old) || !isObjectName(u.New) || len(u.Old) != len(u.New) || (isZeroID(u.Old) && isZeroID(u.New)) || u.Ref == "" || strings.ContainsAny(u.Ref, " \t\n") {
				t.Fatalf("accepted %+v from %q", u, s)
			}
		}
	})
}
