package eventhive_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/eventhive"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestCanonicalAgreesWithPython: Canonical writes, byte for byte, what
// Python's json.dumps(json.loads(doc), indent=0, sort_keys=True,
// separators=(',', ':')) writes (testdata/canonical.py), for the webhook
// deliveries in testdata and for thousands of generated documents that mix
// what makes the form hard: member names out of order, non-ASCII and
// astral names, escapes, lone surrogates, repeated names, controls, DEL,
// numbers of every shape. EventHive's signatures are HMACs of this form,
// so one differing byte is a message the other side drops. It needs
// python3 (skipped without it unless KOISTREAM_REQUIRE_SERVERS=1).
func TestCanonicalAgreesWithPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv(topicstest.RequireServersEnv) == "1" {
			t.Fatalf("python3 is required: %v", err)
		}
		t.Skip("python3 not installed")
	}
	var docs []string
	for _, f := range []string{"push.multiple-commits.json", "pull_request.opened.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		docs = append(docs, genValue(r, 0))
	}
	var in bytes.Buffer
	for _, d := range docs {
		line, _ := json.Marshal(d)
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command("python3", filepath.Join("testdata", "canonical.py"))
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("canonical.py: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	i, failures := 0, 0
	for ; sc.Scan(); i++ {
		var want string
		if err := json.Unmarshal(sc.Bytes(), &want); err != nil {
			t.Fatalf("line %d of Python's output: %v", i, err)
		}
		got, err := eventhive.Canonical([]byte(docs[i]))
		switch {
		case err != nil:
			t.Errorf("document %d: Canonical: %v\n%q", i, err, docs[i])
		case string(got) != want:
			t.Errorf("document %d differs from Python\n doc %q\n got %q\nwant %q", i, docs[i], got, want)
		default:
			continue
		}
		if failures++; failures == 5 {
			t.Fatal("stopping after 5 differences")
		}
	}
	if i != len(docs) {
		t.Fatalf("Python answered %d of %d documents", i, len(docs))
	}
}

// genValue returns the text of a random JSON value (as a Go string of
// UTF-8, escapes included) of at most 4 levels below depth.
func genValue(r *rand.Rand, depth int) string {
	k := r.IntN(10)
	if depth >= 4 {
		k = 4 + r.IntN(6)
	}
	switch k {
	case 0, 1, 2:
		var b strings.Builder
		b.WriteString("{")
		n := r.IntN(7)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(genString(r, true))
			b.WriteString(":")
			b.WriteString(genValue(r, depth+1))
		}
		b.WriteString("}")
		return b.String()
	case 3:
		var b strings.Builder
		b.WriteString("[")
		n := r.IntN(5)
		for i := range n {
			if i > 0 {
				b.WriteString(" , ")
			}
			b.WriteString(genValue(r, depth+1))
		}
		b.WriteString("]")
		return b.String()
	case 4, 5, 6:
		return genString(r, false)
	case 7, 8:
		return genNumber(r)
	}
	return []string{"true", "false", "null"}[r.IntN(3)]
}

// genString returns a JSON string; names draw from a small alphabet so
// that objects repeat names and sort among near neighbours.
func genString(r *rand.Rand, name bool) string {
	pieces := []string{"a", "b", "B", "z", "_", "aa", "ab", "é", "\\u00e9", "世", "😀", "\\ud83d\\ude00",
		"\\ud800", "\\udc00", "\\uffff", "\\n", "\\t", "\\\"", "\\\\", "\\/", "/", "<", "\x7f", "\\u007f",
		"\\u0000", "\\u001f", "\\b", "\\f", "\\r", "\\u0041", " ", "\u00a0", "\uffff", "\U0010ffff"}
	n := r.IntN(4)
	if !name {
		n = r.IntN(8)
	}
	var b strings.Builder
	b.WriteString(`"`)
	for range n {
		if name && r.IntN(3) > 0 {
			b.WriteString(pieces[r.IntN(7)]) // mostly plain ASCII names
			continue
		}
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	b.WriteString(`"`)
	return b.String()
}

func genNumber(r *rand.Rand) string {
	switch r.IntN(8) {
	case 0:
		return strconv.Itoa(r.IntN(2000) - 1000)
	case 1:
		return []string{"0", "-0", "0.0", "-0.0", "1e400", "-1e400", "1e-400", "5e-324"}[r.IntN(8)]
	case 2:
		return "123456789012345678901234567890"
	case 3:
		return strconv.FormatFloat(r.NormFloat64()*1e6, 'g', -1, 64)
	case 4:
		return strconv.FormatFloat(r.Float64(), 'e', r.IntN(17), 64)
	case 5:
		return strconv.Itoa(r.IntN(100)) + "E+" + strconv.Itoa(r.IntN(20))
	case 6:
		return strconv.FormatFloat(r.ExpFloat64()*1e15, 'f', r.IntN(4), 64)
	}
	return strconv.Itoa(r.IntN(10)) + "." + strconv.Itoa(r.IntN(1000)) + "e-" + strconv.Itoa(r.IntN(8))
}
