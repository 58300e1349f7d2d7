// Package signaling defines Crossbar's client protocol: the JSON messages a
// client and the server exchange, and the transports that carry them.
//
// The protocol is documented in PROTOCOL.md beside this file. The package has
// no knowledge of sessions or media; the crossbar package gives the messages
// their meaning.
//
// # Transports
//
// A [Transport] carries encoded messages between one client and the server.
// The server serves any of them (crossbar's Server.ServeTransport) and the Go
// client connects over any of them (client.ConnectTransport), so a host can
// carry the protocol over a channel of its own. Two ship: [WebSocket], which
// the server's HTTP handler and the browser client use, and [Pipe], an
// in-memory pair for tests and for clients in the host's own process. Every
// transport keeps this contract:
//
//   - Ordering: messages arrive whole, once, in the order they were written.
//     A transport may refuse a message over [MaxMessageSize]; it then fails
//     (as below), as the WebSocket does.
//   - Concurrency: one goroutine reads (ReadMessage) while another writes
//     (WriteMessage): the transport need not allow two reads or two writes
//     at once. Close, and CloseNow if the transport has it, may be called
//     from any goroutine, at any time, more than once.
//   - Contexts: a ReadMessage or WriteMessage whose context ends returns
//     the context's error, soon. The transport may be unusable afterwards
//     (the WebSocket is), so callers give it up.
//   - Closing: Close ends the transport in an orderly way, unblocking any
//     pending ReadMessage and WriteMessage on both ends. Once either end
//     called Close, or the peer said goodbye at the transport level,
//     ReadMessage returns [ErrClosed] on both ends: the server then ends the
//     client's connection at once. A transport may also have a method
//     CloseNow() error that drops it without a goodbye, as a failed network
//     would (see [CloseNow]).
//   - Errors: a link that failed, or was dropped, makes ReadMessage return an
//     error other than ErrClosed. The server then keeps the client's
//     connection for its reconnect grace period, for the client to resume
//     on a new transport, and the Go client tries to resume.
//   - Keep-alive: a transport that can check that its peer is alive
//     implements [KeepAliver] (the WebSocket does, with WebSocket pings).
//     The server and the Go client run it on the transports that do. On
//     other transports the protocol does the same: the client sends "ping"
//     requests at least every DefaultPingInterval and takes the link for
//     dead when a reply has not come DefaultPingTimeout later, and the
//     server takes the link for dead when nothing came from the client for
//     the sum of the two (see PROTOCOL.md). Either way a dead link is
//     noticed within 8 s by default.
//   - Addresses: a transport that knows its client's network address
//     implements [Addressed]; the server limits what all the clients of one
//     address may send together. Without it the address limit does not
//     apply to the transport's client.
package signaling

import (
	"context"
	"errors"
	"time"
)

// Transport carries encoded messages between one client and the server, in
// order, under the contract of the package documentation.
type Transport interface {
	// ReadMessage returns the next message. It returns ErrClosed once the
	// transport was closed in an orderly way, by either end, and another
	// error when the link failed or was dropped.
	ReadMessage(ctx context.Context) ([]byte, error)
	// WriteMessage sends one message. The transport does not keep b.
	WriteMessage(ctx context.Context, b []byte) error
	// Close ends the transport in an orderly way.
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

// KeepAliver is implemented by transports that check their peer's liveness
// themselves, below the protocol, as the WebSocket does with pings.
//
// KeepAlive checks the peer every interval until ctx ends. When the peer
// does not answer within timeout, it drops the transport, so that a pending
// ReadMessage fails with an error other than ErrClosed, and returns why. It
// returns ctx's error when ctx ends. It runs beside the reading goroutine
// and may rely on it, e.g. to take in the peer's answers.
type KeepAliver interface {
	KeepAlive(ctx context.Context, interval, timeout time.Duration) error
}

// Defaults of the keep-alive that the server and the Go client run on every
// transport, a KeepAliver's own or the protocol's "ping": a dead link is
// noticed within 8 s.
const (
	DefaultPingInterval = 3 * time.Second
	DefaultPingTimeout  = 5 * time.Second
)

// CloseNow drops t without a goodbye, as a failed network would, when t has
// a method CloseNow() error; otherwise it closes t in an orderly way. The
// server drops a transport it gives up on (a failed write, a dead link) so
// that its client may resume rather than leave. The link is gone either
// way, so there is no error to report.
func CloseNow(t Transport) {
	if d, ok := t.(interface{ CloseNow() error }); ok {
		_ = d.CloseNow()
		return
	}
	_ = t.Close()
}
