package main_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestKcatReadsRawTopic reads koistream.raw with kcat (librdkafka), a
// third-party Kafka client, and finds the delivery with its body and
// GitHub headers. CI installs kcat; set KOISTREAM_REQUIRE_KCAT=1 to fail
// rather than skip where it is missing.
func TestKcatReadsRawTopic(t *testing.T) {
	t.Parallel()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("KOISTREAM_REQUIRE_KCAT") != "" {
			t.Fatal("kcat is required (apt-get install kcat) but not on PATH")
		}
		t.Skip("kcat not installed")
	}
	n := startNode(t, t.TempDir())
	d := loadDelivery(t, filepath.Join(testdata, "push.multiple-commits.json"))
	if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
		t.Fatalf("status %d, body %s", code, body)
	}
	var out []byte
	topicstest.WaitFor(t, 60*time.Second, "kcat to see the delivery", func() bool {
		cmd := exec.Command(kcat, "-b", n.kafka, "-C", "-t", "koistream.raw", "-o", "beginning", "-e", "-q",
			"-f", "key=%k\\nheaders=%h\\nvalue=%s\\n--end--\\n")
		out, err = cmd.Output()
		return err == nil && bytes.Contains(out, []byte("key="+d.id))
	})
	rec := string(out)
	for _, want := range []string{github.HeaderEvent + "=push", github.HeaderDelivery + "=" + d.id, raw.HeaderSource + "=" + github.SourceKind, "traceparent="} {
		if !strings.Contains(rec, want) {
			t.Errorf("kcat output lacks %q:\n%.2000s", want, rec)
		}
	}
	if !bytes.Contains(out, bytes.TrimSpace(d.body)) {
		t.Errorf("kcat output lacks the body byte for byte")
	}
}
