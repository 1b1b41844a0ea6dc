package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// instanceIDFile is the file in the data folder that holds the node's
// instance ID.
const instanceIDFile = "instance-id"

// instanceID returns the ID of the node that owns dataDir, creating it on
// first use. It names the node (in its transactional IDs, so that an
// operator can tell whose transactions a broker lists) and differs between
// nodes sharing a cluster, whose producers would otherwise fence each other.

func instanceID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, instanceIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" {
			return "", fmt.Errorf("instance id: %s is empty; delete it to have a new one made", path)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("instance id: %w", err)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return id, nil
}

// bootID returns a new random ID for one run of the node. The segments'
// transactional IDs end with it, so that a node never reuses the producer
// of a previous run, on purpose: kfake (the embedded broker) aborts the
// transactions a crash left open when it loads its data, but only in memory,
// without writing abort markers, and when it loads again it takes the next
// commit marker of the same producer ID as the end of that old transaction
// and serves its records as committed. Reusing the producer across a crash
// resurrected aborted outputs that way (measured: 46 duplicate events in 8
// kill -9 cycles). With a new producer per run, nothing ever writes a marker
// for an old run's producer ID, and every load aborts its open transaction
// again. What is given up is fencing by transactional ID: a restarted node no
// longer aborts its previous run's open transaction at once; on an external
// broker that transaction blocks its partitions until the transaction
// timeout (topics.DefaultTransactionTimeout), and the previous run, were it
// still alive, is fenced by the group generation (KIP-447) instead.
func bootID() string {
	var raw [4]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(raw[:])
}
