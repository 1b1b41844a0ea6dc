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
// first use. The ID names the node's transactional producers: it must stay
// the same across restarts, so that a restarted node fences its previous
// incarnation and aborts the transactions the crash left open (its
// partitions then resume at once instead of after the transaction timeout),
// and differ between nodes sharing a cluster, or they would fence each other.
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
