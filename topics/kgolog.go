package topics

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoSlog passes franz-go's warnings and errors to a slog.Logger. Info and
// debug are dropped: franz-go logs every transaction's begin and end at info,
// several lines per poll.
type kgoSlog struct{ log *slog.Logger }

func (k kgoSlog) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoSlog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelWarn
	if level == kgo.LogLevelError {
		l = slog.LevelError
	}
	k.log.Log(context.Background(), l, "kafka client: "+msg, keyvals...)
}
