// Package httpjson holds the conventions of koistream's HTTP listener: every
// answer outside the KOI-net API is JSON, errors as {"error":
// "<machine-readable code>", "detail": "<what is wrong>"} ([Error]) and any
// other answer as a JSON value ([Write]). So that no error reaches a client
// as net/http's plain text, [Routes] answers requests no route takes (404,
// 405) and [Listener] the malformed requests net/http refuses before any
// handler runs (400, 431, 501, 505). [BodyGuard] bounds how long reading a
// request body may take, also while the node shuts down, and describes a
// body that could not be read in the client's terms ([BodyError]). [Linger]
// lets a client read an answer given before its body was read.
package httpjson

import (
	"net/http"
	"strconv"

	"github.com/segmentio/encoding/json"
)

// ErrorBody is the JSON shape of every error answer outside the KOI-net API.
type ErrorBody struct {
	// Error is a short, stable, machine-readable code such as
	// "invalid_signature".
	Error string `json:"error"`
	// Detail says in a sentence what was wrong with the request.
	Detail string `json:"detail"`
}

// Error answers status with {"error": code, "detail": detail}. The answer
// declares its Content-Length, so that it is whole once flushed, before the
// handler returns (see [Linger]).
func Error(w http.ResponseWriter, status int, code, detail string) {
	b, _ := json.Marshal(ErrorBody{Error: code, Detail: detail})
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Write answers status with v encoded as JSON and a trailing newline.
func Write(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
