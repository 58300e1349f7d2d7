package signaling

import (
	"context"
	"errors"
)

// Transport carries encoded messages between one client and the server, in
// order. The crossbar package serves any Transport, so a host can carry the
// protocol over a channel of its own; WebSocket is the one shipped.
//
// ReadMessage is called from one goroutine and WriteMessage from another;
// Close may be called from any goroutine, more than once, and unblocks both.
type Transport interface {
	// ReadMessage returns the next message. It returns ErrClosed once the
	// peer said goodbye at the transport level or Close was called, and
	// another error when the link failed.
	ReadMessage(ctx context.Context) ([]byte, error)
	// WriteMessage sends one message.
	WriteMessage(ctx context.Context, b []byte) error
	// Close ends the transport.
	Close() error
}

// ErrClosed is returned by a Transport that was closed in an orderly way.
var ErrClosed = errors.New("signaling: transport closed")

// Addressed is implemented by transports that know their client's network
// address ("host:port" or a bare host). The server limits what all the
// clients of one address may send together.
type Addressed interface {
	RemoteAddr() string
}
