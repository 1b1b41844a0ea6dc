// Package httperr writes koistream's JSON HTTP answers: error answers with
// a status code and a body {"error": "<machine-readable code>", "detail":
// "<what is wrong>"}, and plain JSON answers.
package httperr

import (
	"net/http"

	"github.com/segmentio/encoding/json"
)

// Body is the JSON shape of every error answer outside the KOI-net API.
type Body struct {
	// Error is a short, stable, machine-readable code such as
	// "invalid_signature".
	Error string `json:"error"`
	// Detail says in a sentence what was wrong with the request.
	Detail string `json:"detail"`
}

// Write answers status with {"error": code, "detail": detail}.
func Write(w http.ResponseWriter, status int, code, detail string) {
	b, _ := json.Marshal(Body{Error: code, Detail: detail})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteJSON answers status with v encoded as JSON and a trailing newline.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
