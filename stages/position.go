package stages

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
)

// logPos is a record's place in a topic. Stage state stores the position
// that last changed it, which is how a stage tells a retry of the same record
// (same position: process again) from a new record about the same key.
type logPos struct {
	partition int32
	offset    int64
}

const logPosLen = 12

func (p logPos) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(p.partition))
	return binary.BigEndian.AppendUint64(b, uint64(p.offset))
}

func decodeLogPos(b []byte) (logPos, error) {
	if len(b) < logPosLen {
		return logPos{}, errors.New("log position: short value")
	}
	return logPos{
		partition: int32(binary.BigEndian.Uint32(b)),
		offset:    int64(binary.BigEndian.Uint64(b[4:])),
	}, nil
}

// rawPos reads the raw record position normalize put in the metadata.
func rawPos(md message.Metadata, partKey, offKey string) (logPos, bool, error) {
	ps, os := md.Get(partKey), md.Get(offKey)
	if ps == "" && os == "" {
		return logPos{}, false, nil
	}
	p, err := strconv.ParseInt(ps, 10, 32)
	if err != nil {
		return logPos{}, false, fmt.Errorf("metadata %s=%q: %w", partKey, ps, err)
	}
	o, err := strconv.ParseInt(os, 10, 64)
	if err != nil {
		return logPos{}, false, fmt.Errorf("metadata %s=%q: %w", offKey, os, err)
	}
	return logPos{partition: int32(p), offset: o}, true, nil
}
