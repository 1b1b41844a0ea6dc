package httpjson

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/segmentio/encoding/json"
)

// Listener returns ln with the answers net/http writes by itself, before
// any handler runs, turned into JSON error answers: 400 for a request that
// is not valid HTTP/1.1 (a malformed request line or header, Content-Length
// headers that disagree, a missing Host header), 431 for a request line and
// headers longer than the server's MaxHeaderBytes (pass the same value as
// maxHeaderBytes, so the answer can say the bound), 501 for a
// Transfer-Encoding other than chunked and 505 for an HTTP version other
// than 1.x. net/http has no hook for these (golang/go#21548, #25116): it
// writes them straight to the connection, so this is where they can be
// changed. Every other byte passes through unchanged.
//
// What net/http still answers itself: 417 with an empty body for an Expect
// header other than 100-continue (written like a handler's answer, so it
// cannot be told apart here), and nothing at all to a client that sends
// no complete request line and headers within ReadHeaderTimeout.
func Listener(ln net.Listener, maxHeaderBytes int) net.Listener {
	return &listener{Listener: ln, maxHeaderBytes: maxHeaderBytes}
}

type listener struct {
	net.Listener
	maxHeaderBytes int
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, maxHeaderBytes: l.maxHeaderBytes}, nil
}

// conn rewrites net/http's early error answers on their way out.
type conn struct {
	net.Conn
	maxHeaderBytes int
}

func (c *conn) Write(p []byte) (int, error) {
	if j, ok := earlyError(p, c.maxHeaderBytes); ok {
		if _, err := c.Conn.Write(j); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite half-closes the connection as the connection it wraps does:
// net/http half-closes after a 431, or after refusing a body it did not
// read, so that the client reads the answer before the connection ends,
// and it finds that method only on the connection it was given.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// plainErrorHeaders follow the status line of every answer net/http writes
// before a handler runs (net/http's server.go, "errorHeaders"), and only of
// those: a handler's answer always carries a Date header, and net/http
// writes it after Connection, so no handler's answer has a blank line
// straight after "Connection: close".
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// earlyError returns the JSON answer to write instead of p when p is one of
// net/http's early plain-text error answers, each of which it writes whole
// in one Write.
func earlyError(p []byte, maxHeaderBytes int) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) {
		return nil, false
	}
	end := bytes.Index(p[:min(len(p), 512)], []byte("\r\n"))
	if end < len(proto)+3 || !bytes.HasPrefix(p[end:], []byte(plainErrorHeaders)) {
		return nil, false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil {
		return nil, false
	}
	// The status line is "<code> <text>" or, for a refusal net/http gives a
	// reason for, "<code> <text>: <reason>".
	_, reason, _ := strings.Cut(string(p[len(proto):end]), ": ")
	var code, detail string
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code = "headers_too_large"
		detail = fmt.Sprintf("the request line and headers are larger than %d bytes, the most this node reads", maxHeaderBytes)
	case http.StatusNotImplemented:
		code = "unsupported_transfer_encoding"
		detail = "the request's Transfer-Encoding is not supported: send the body with a Content-Length or Transfer-Encoding: chunked"
	case http.StatusHTTPVersionNotSupported:
		code = "unsupported_http_version"
		detail = "the request's HTTP version is not supported: send HTTP/1.1"
	default:
		code = "malformed_request"
		detail = "the request is not valid HTTP/1.1"
		if reason != "" {
			detail += ": " + reason
		} else {
			detail += ": its request line or a header is malformed, or its Content-Length headers disagree"
		}
	}
	body, _ := json.Marshal(ErrorBody{Error: code, Detail: detail})
	body = append(body, '\n')
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
		status, http.StatusText(status), len(body))
	return append([]byte(head), body...), true
}
