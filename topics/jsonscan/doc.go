// Package jsonscan holds the JSON byte scanners every parser of ours uses:
// whitespace skipping, finding the end of a string eight bytes at a time
// (with or without checking its escapes), decoding a string's escapes, the
// number grammar, skipping a whole value without validating it, walking an
// object's members (EachMember), and validating a whole document (Valid).
//
// The callers are the hot paths of the pipeline: the RFC 8785 canonicaliser
// (topics/koi) hashes every observation, the webhook validator
// (topics/github) checks every body, and the events value parser
// (topics/events) takes apart every record the projections apply. Each had
// its own copy of these loops; they live here once, and each caller keeps
// only what is its own (writing canonical output, the validator's state
// machine, the events record's members).
//
// Every scanner takes the input and an index and returns an index: where the
// scanned thing ends, or -1 when it is malformed (ValueEnd returns an error
// instead, because its callers tell nesting that is too deep from other
// faults). No scanner allocates. SkipSpace, PlainEnd, Hex4 and the
// eight-byte tests are small enough for the compiler to inline, so in the
// callers' loops they cost what the code they replaced did; the others are
// called once per string, number or value, as the callers' own functions
// were.
//
// Strings are scanned eight bytes at a time ("SWAR": SIMD within a
// register, the classic has-zero-byte test on a uint64) because most of a
// webhook payload is plain text inside strings: a byte-at-a-time loop was a
// third of the webhook handler's CPU (about 50 µs for an 11 kB body).
package jsonscan
