package backfill_test

import (
	"encoding/json"
	"strconv"
	"testing"
)

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %.80s: %v", b, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
