package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/stages/yamlconf"
	"github.com/koistream/koistream/topics/koi"
)

// KoiNetSection is the sensor's koi_net block: the node's KOI-net identity,
// profile, first contact and worker settings, as koi-net 1.0 to 2.1 write
// them. koistream reads and checks it now; the KOI-net node role that acts
// on it comes in a later release (see [File.NotYetUsed]).
type KoiNetSection struct {
	// NodeName is the name part of the node RID.
	NodeName string `yaml:"node_name"`
	// NodeRID is the node's RID, orn:koi-net.node:<name>+<hash>.
	NodeRID NodeRID `yaml:"node_rid"`
	// NodeProfile is the profile the node publishes about itself.
	NodeProfile NodeProfile `yaml:"node_profile"`
	// RidTypesOfInterest are the RID types the node follows: null means
	// all types, [] none, absent the reference's default
	// [orn:koi-net.node] (KOIConfig.RidTypesOfInterest).
	RidTypesOfInterest []RIDType `yaml:"rid_types_of_interest"`
	// CacheDirectoryPath is the Python node's RID cache folder.
	CacheDirectoryPath string `yaml:"cache_directory_path"`
	// EventQueuesPath is where a 1.0 node persisted its event queues.
	EventQueuesPath string `yaml:"event_queues_path"`
	// PrivateKeyPEMPath is the node's PKCS#8 PEM private key, encrypted
	// with the password in env.priv_key_password's variable.
	PrivateKeyPEMPath string `yaml:"private_key_pem_path"`
	// PollingInterval is how often a PARTIAL node polls its neighbours
	// (koi-net's default 5).
	PollingInterval Seconds `yaml:"polling_interval"`
	// EventWorker and KobjWorker tune the Python node's worker threads.
	EventWorker EventWorker `yaml:"event_worker"`
	KobjWorker  KobjWorker  `yaml:"kobj_worker"`
	// FirstContact is the node introduced to at start-up.
	FirstContact FirstContact `yaml:"first_contact"`
	// RequireSignatures refuses unsigned koi-net 1.0 requests instead of
	// answering them unsigned (koistream's key; Config.RequireSignatures).
	RequireSignatures bool `yaml:"require_signatures"`
	// Protocol is "1.0" to speak unsigned koi-net 1.0 (koistream's key;
	// KOIConfig.Protocol); a bare-URL first_contact implies it.
	Protocol string `yaml:"protocol"`
	// QueueLimit bounds each subscriber's outbound queue, in events
	// (koistream's key; KOIConfig.QueueLimit, default DefaultQueueLimit).
	QueueLimit Count `yaml:"queue_limit"`
	// BodyBudget bounds the bytes of request bodies the KOI-net API holds
	// at once (koistream's key; KOIConfig.BodyBudget, default
	// koiapi.DefaultBodyBudget).
	BodyBudget BodyBudget `yaml:"body_budget"`
}

// BodyBudget is koi_net.body_budget: bytes, 0 for the default or at least
// the largest broadcast body, which must fit alone.
type BodyBudget int64

// Validate reports whether b is 0 or holds a broadcast of the largest size.
func (b BodyBudget) Validate() error {
	if b != 0 && b < koiapi.DefaultMaxBroadcastBody {
		return fmt.Errorf("must be 0 (the default, %d) or at least %d bytes, the largest broadcast body, got %d",
			koiapi.DefaultBodyBudget, koiapi.DefaultMaxBroadcastBody, int64(b))
	}
	return nil
}

// hexHash matches a koi-net 1.1+ node RID hash: a hex sha256.
var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks what spans keys: the node name fits in a node RID, and a
// 1.1+ node RID's hash is the sha256 of the profile's public key.
func (k *KoiNetSection) Validate() error {
	if strings.Contains(k.NodeName, "+") {
		return &yamlconf.KeyError{Key: "node_name", Err: fmt.Errorf(
			"must not hold a +, which ends the name in orn:koi-net.node:<name>+<hash>; got %q", k.NodeName)}
	}
	if k.NodeRID == "" || k.NodeProfile.PublicKey == "" {
		return nil
	}
	_, hash, err := k.NodeRID.parts()
	if err != nil || !hexHash.MatchString(hash) {
		return nil // a 1.0 RID: its hash is a UUID, not the key's
	}
	if want := k.NodeProfile.PublicKey.hashOf(); hash != want {
		return &yamlconf.KeyError{Key: "node_rid", Err: fmt.Errorf(
			"must end in the sha256 of node_profile.public_key, %s, got %s: the RID belongs to another key", want, hash)}
	}
	return nil
}

// NodeProfile is a KOI-net node profile.
type NodeProfile struct {
	// Context is koi-net 2.1's "@context", orn:koi-net.context:koi-net.node.
	Context RID `yaml:"@context"`
	// BaseURL is where peers reach the node's KOI-net API.
	BaseURL HTTPURL `yaml:"base_url"`
	// NodeType is FULL (serves the API) or PARTIAL (polls).
	NodeType NodeType `yaml:"node_type"`
	// Provides lists the RID types the node provides events and state of.
	Provides NodeProvides `yaml:"provides"`
	// PublicKey is the node's base64 DER ECDSA P-256 public key.
	PublicKey PublicKey `yaml:"public_key"`
}

// NodeProvides lists the RID types a node provides.
type NodeProvides struct {
	// Event are the types the node sends events about.
	Event []RIDType `yaml:"event"`
	// State are the types the node serves state (bundles) of.
	State []RIDType `yaml:"state"`
}

// EventWorker tunes the Python node's event worker; koi-net's defaults are
// queue_timeout 0.1, max_buf_len 5 and max_wait_time 1.0.
type EventWorker struct {
	// QueueTimeout is how long the worker waits on its queue.
	QueueTimeout Seconds `yaml:"queue_timeout"`
	// MaxBufLen is how many events a peer's buffer holds before a flush.
	MaxBufLen Count `yaml:"max_buf_len"`
	// MaxWaitTime is how long a buffered event waits at most.
	MaxWaitTime Seconds `yaml:"max_wait_time"`
}

// KobjWorker tunes the Python node's knowledge object worker.
type KobjWorker struct {
	// QueueTimeout is how long the worker waits on its queue.
	QueueTimeout Seconds `yaml:"queue_timeout"`
}

// FirstContact is the node a node introduces itself to at start-up. A
// koi-net 1.0 file gives a bare URL; 1.1 and later give {rid, url}, and the
// RID is then needed to verify the peer's signatures.
type FirstContact struct {
	// RID is the first contact's node RID; empty in the 1.0 form.
	RID NodeRID `yaml:"rid"`
	// URL is the first contact's KOI-net base URL.
	URL HTTPURL `yaml:"url"`
}

// firstContactFields is FirstContact without its decoding method, for the
// mapping form.
type firstContactFields FirstContact

// UnmarshalConfig accepts a bare URL or a {rid, url} mapping.
func (fc *FirstContact) UnmarshalConfig(d *yamlconf.Decoder, n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		fc.URL = HTTPURL(n.Value)
		if err := fc.URL.Validate(); err != nil {
			return d.Errorf(n, "%s %s", path, err)
		}
		return nil
	case yaml.MappingNode:
		return d.Decode(n, path, (*firstContactFields)(fc))
	}
	return d.Errorf(n, "%s must be a URL or {rid: <node RID>, url: <URL>}, got a list", path)
}

// Validate checks that a first contact with a RID also has a URL.
func (fc *FirstContact) Validate() error {
	if fc.RID != "" && fc.URL == "" {
		return errors.New("has a rid but no url")
	}
	return nil
}

// RID is any RID, such as orn:koi-net.context:koi-net.node.
type RID string

// Validate reports whether r parses as an RID.
func (r RID) Validate() error {
	if _, err := koi.ParseRID(string(r)); err != nil {
		return fmt.Errorf("must be an RID such as orn:koi-net.context:koi-net.node, got %q", string(r))
	}
	return nil
}
