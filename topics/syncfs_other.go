//go:build !linux

package topics

// fsSyncer reports that this platform has no syncfs(2): the embedded broker
// then fsyncs every batch itself (kfake's SyncWrites) instead.
func fsSyncer(string) (func() error, func() error, bool, error) {
	return nil, nil, false, nil
}
