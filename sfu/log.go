package sfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Pion's levels are passed on one step down: its info messages (candidates
// gathered, states of every ICE agent and DTLS transport, a dozen or more
// per peer connection) are the host's Debug, and its debug and trace
// messages lower still, so that a host logging at Info sees Pion's
// warnings and errors only. Three browser tabs in a room made 675 lines of
// Pion's info in two minutes.
const (
	levelPionInfo  = slog.LevelDebug
	levelPionDebug = slog.LevelDebug - 4
	levelPionTrace = slog.LevelDebug - 8
)

// pionLoggerFactory sends Pion's logs to a slog.Logger, with the Pion scope
// ("ice", "dtls", ...) as the attribute "pion", at the levels above.
type pionLoggerFactory struct{ log *slog.Logger }

// PionLoggerFactory returns a Pion logging.LoggerFactory that sends the
// logs of a Pion component (a TURN server, say) to log as the engine sends
// its own: one level down, Pion's info at slog.LevelDebug.
func PionLoggerFactory(log *slog.Logger) logging.LoggerFactory { return pionLoggerFactory{log} }

// NewLogger implements logging.LoggerFactory.
func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

// pionLogger implements logging.LeveledLogger; formatting happens only for
// enabled levels.
type pionLogger struct{ log *slog.Logger }

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if l.log.Enabled(ctx, level) {
		l.log.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  { l.log.Log(context.Background(), levelPionTrace, msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(levelPionTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.log.Log(context.Background(), levelPionDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(levelPionDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.log.Log(context.Background(), levelPionInfo, msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(levelPionInfo, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.log.Warn(msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.log.Error(msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
