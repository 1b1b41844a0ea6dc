package topics

// DefaultPrefix is the topic name prefix used when none is configured.
const DefaultPrefix = "koistream."

// Names holds the full names of the topics koistream reads and writes. The
// zero value is not useful; build one with [NewNames].
type Names struct {
	// Raw holds one record per input exactly as received: the system of
	// record, never rewritten.
	Raw string
	// Observed holds canonical observations keyed by RID.
	Observed string
	// Events holds KOI events {rid, event_type, manifest, contents} keyed by
	// RID.
	Events string
	// Dead holds records a stage could not process, with the reason in the
	// headers. Nothing is dropped silently.
	Dead string
}

// NewNames returns the topic names for prefix, e.g. "koistream." gives
// "koistream.raw". An empty prefix gives the bare names.
func NewNames(prefix string) Names {
	return Names{
		Raw:      prefix + "raw",
		Observed: prefix + "observed",
		Events:   prefix + "events",
		Dead:     prefix + "dead",
	}
}

// All returns every topic name, in flow order.
func (n Names) All() []string {
	return []string{n.Raw, n.Observed, n.Events, n.Dead}
}

// Resolve maps a short topic name as used in configuration ("raw",
// "observed", "events", "dead") to its full name. Any other name is returned
// unchanged, so configuration may also name extra topics in full.
func (n Names) Resolve(short string) string {
	switch short {
	case "raw":
		return n.Raw
	case "observed":
		return n.Observed
	case "events":
		return n.Events
	case "dead":
		return n.Dead
	}
	return short
}
