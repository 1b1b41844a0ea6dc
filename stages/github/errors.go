package github

import (
	"unicode/utf8"

	wire "github.com/koistream/koistream/topics/github"
)

// ErrBadPayload is wrapped by every error Normalize and ParseWebhook return
// for a delivery that cannot be normalized. It is topics/github's
// ErrBadPayload, shared with the webhook source's checks, so errors.Is
// matches either name. Such errors are permanent: the same input always
// fails the same way.
var ErrBadPayload = wire.ErrBadPayload

// truncate shortens s to at most n bytes for use in error messages, so that
// errors never carry a large part of a payload.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
