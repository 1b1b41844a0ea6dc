// Package replay will serve replays of the log by offset and by timestamp
// (X-Fetch-Since, X-Fetch-Since-Cursor, SSE Last-Event-ID), reading the
// topics directly. It is specified by a later issue and holds no code yet;
// the topics it needs (raw, observed, events) are written with unlimited
// retention so that every point in history stays replayable.
package replay
