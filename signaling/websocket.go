package signaling

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Subprotocol is the WebSocket subprotocol name of this protocol version.
const Subprotocol = "crossbar.v1"

// WebSocket is a Transport over a WebSocket connection.
type WebSocket struct {
	conn    *websocket.Conn
	addr    string      // the remote address, on the accepting side
	closing atomic.Bool // Close was called: reads end with ErrClosed
}

// AcceptWebSocket upgrades an HTTP request to a WebSocket transport. Frames
// larger than MaxMessageSize close the connection. originPatterns lists the
// cross-origin hosts allowed besides the request's own (see
// websocket.AcceptOptions.OriginPatterns); nil allows same-origin only.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request, originPatterns []string) (*WebSocket, error) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: originPatterns,
	})
	if err != nil {
		return nil, fmt.Errorf("signaling: websocket upgrade: %w", err)
	}
	c.SetReadLimit(MaxMessageSize)
	return &WebSocket{conn: c, addr: r.RemoteAddr}, nil
}

// DialWebSocket opens a WebSocket transport to url (ws:// or wss://).
func DialWebSocket(ctx context.Context, url string, header http.Header) (*WebSocket, error) {
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{Subprotocol},
		HTTPHeader:   header,
	})
	if err != nil {
		return nil, fmt.Errorf("signaling: dial %s: %w", url, err)
	}
	c.SetReadLimit(MaxMessageSize)
	return &WebSocket{conn: c}, nil
}

// RemoteAddr implements Addressed: the accepted request's RemoteAddr (empty
// on the dialing side).
func (ws *WebSocket) RemoteAddr() string { return ws.addr }

// ReadMessage implements Transport.
func (ws *WebSocket) ReadMessage(ctx context.Context) ([]byte, error) {
	typ, b, err := ws.conn.Read(ctx)
	if err != nil {
		if ws.closing.Load() {
			return nil, ErrClosed
		}
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusGoingAway:
			return nil, ErrClosed
		}
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("%w: binary frame", ErrMalformed)
	}
	return b, nil
}

// WriteMessage implements Transport.
func (ws *WebSocket) WriteMessage(ctx context.Context, b []byte) error {
	return ws.conn.Write(ctx, websocket.MessageText, b)
}

// Close implements Transport with a normal closure.
func (ws *WebSocket) Close() error {
	ws.closing.Store(true)
	return ws.conn.Close(websocket.StatusNormalClosure, "")
}

// CloseNow drops the connection without a closing handshake, as a failed
// network would. Tests use it to simulate an abrupt disconnect.
func (ws *WebSocket) CloseNow() error {
	return ws.conn.CloseNow()
}

// Ping checks that the peer still answers.
func (ws *WebSocket) Ping(ctx context.Context) error {
	return ws.conn.Ping(ctx)
}

// KeepAlive implements KeepAliver: it pings the peer every interval until
// ctx ends. When a pong does
// not come back within timeout it drops the connection, as CloseNow does, so
// that a pending ReadMessage fails, and returns why: a link that went dead
// without a closing handshake (a half-open TCP connection, a partition) is
// noticed within interval+timeout. Pongs are read by ReadMessage, so another
// goroutine must be reading meanwhile. It returns ctx's error when ctx ends.
func (ws *WebSocket) KeepAlive(ctx context.Context, interval, timeout time.Duration) error {
	err := Heartbeat(ctx, interval, timeout, ws.conn.Ping)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_ = ws.conn.CloseNow() // the reader sees the link drop
	return fmt.Errorf("signaling: keep-alive: no pong within %v: %w", timeout, err)
}

// Heartbeat runs probe every interval until ctx ends, each run given
// timeout, and returns the first failure, or ctx's error once it ends: the
// loop of a keep-alive, whatever it sends.
func Heartbeat(ctx context.Context, interval, timeout time.Duration, probe func(context.Context) error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
}
