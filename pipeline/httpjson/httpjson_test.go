package httpjson_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// answer is a response read in full.
type answer struct {
	status int
	header http.Header
	body   []byte
	close  bool // the answer said Connection: close
}

// rawExchange sends req as bytes on a new connection to addr, runs then (if
// any) on the connection, and reads the answer.
func rawExchange(t *testing.T, addr, req string, then func(net.Conn)) answer {
	t.Helper()
	a, err := exchange(addr, req, then)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// exchange is rawExchange for any goroutine.
func exchange(addr, req string, then func(net.Conn)) (answer, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		return answer{}, err
	}
	if then != nil {
		then(c)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return answer{}, fmt.Errorf("reading the answer to %.80q: %w", req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("reading the answer's body: %w", err)
	}
	return answer{resp.StatusCode, resp.Header, b, resp.Close}, nil
}

// jsonError decodes an {"error","detail"} answer strictly and checks that
// the detail is in the client's terms: no addresses, no Go error text.
func jsonError(t *testing.T, a answer) (code, detail string) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json (body %q)", ct, a.body)
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	var e struct {
		Error  *string `json:"error"`
		Detail *string `json:"detail"`
	}
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Detail == nil || *e.Detail == "" {
		t.Fatalf("body %q is not {\"error\",\"detail\"}: %v", a.body, err)
	}
	for _, leak := range []string{"127.0.0.1", "tcp", "i/o timeout", "Go ", "struct", "http:", "EOF"} {
		if strings.Contains(*e.Detail, leak) {
			t.Errorf("detail %q gives away %q", *e.Detail, leak)
		}
	}
	return *e.Error, *e.Detail
}
