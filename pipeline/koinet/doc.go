// Package koinet is koistream's side of the KOI-net network beyond the
// HTTP endpoints it serves (pipeline/koiapi): what it sends to other
// nodes. deliver.go pushes the outbound queues (projections.Queues) to
// webhook subscribers as /events/broadcast batches.
package koinet
