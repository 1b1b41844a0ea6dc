// Package bodybudget bounds the bytes of HTTP request bodies a node holds
// in memory at once, across all the requests in flight of one endpoint
// family. A [Budget] counts the bytes; [Budget.Read] reads one body within
// it and within a largest size, reserving a declared body's length before
// the first byte is read and charging a chunked body as its buffer grows.
// A request that does not fit is refused (an HTTP 503 with Retry-After,
// [RetryAfter]) rather than read, so that many large uploads at once make
// clients wait rather than the node run out of memory.
//
// The handlers that use it (pipeline/webhook, pipeline/koiapi) decide how a
// refusal is worded; this package decides only what fits.
package bodybudget
