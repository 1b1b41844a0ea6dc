// Package koiapi serves the KOI-net fetch endpoints (/rids/fetch,
// /manifests/fetch, /bundles/fetch) from the cache projection. Answers come
// from Pebble only, never from the raw topic, so they show exactly what the
// node has announced as events.
package koiapi
