package crossbar

import (
	"context"
	"sync"
	"time"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// Connection is one client's presence in a session. A page may hold several.
// It outlives a dropped transport for the server's reconnect grace period.
type Connection struct {
	id        string
	session   *Session
	token     *TokenInfo
	created   time.Time
	resumeKey string
	// keyHash is its resume key's (keyHash): another node's connection
	// can be taken over with the key. epoch counts its moves between
	// nodes (move.go).
	keyHash   string
	epoch     int
	inProcess bool   // the host's own, for a stream it publishes from Go
	node      string // the node that serves it in a cluster; empty: this one
	// quiet: joined a session already at Config.ConnectionEventsLimit, so
	// its coming and going is not announced to other clients.
	quiet bool
	// listens: its client wants connection events (it did not ask for
	// connectionEventsSuppressed).
	listens bool
	addr    string       // the client's remote address, if its transport tells
	decodes []VideoCodec // the video codecs its client declared it decodes
	// The signal budgets it shares with the connections of its token and
	// of its address (signal.go); nil: no limit. Guarded by session.mu.
	tokenBudget, addrBudget *senderBudget

	// out queues encoded messages for the client. Only the session pushes
	// to it, under the session lock; it is closed when the connection ends.
	out *outbox

	// The messages writers took from out, kept for replay after a resume:
	// the last outboxSize of them, in a ring. Guarded by sentMu.
	sentMu  sync.Mutex
	sent    [][]byte
	written uint64

	media connMedia

	// Guarded by session.mu.
	link   *link // the current transport; nil while detached
	writer *link // the link whose writer started last
	grace  Timer // running while detached
	gone   bool
	// orphaned: it served on a node that died, and ends here for want of
	// its client (move.go); one live node sends the webhooks of its end.
	orphaned bool
	behind   bool // its outbox overflowed: it is being disconnected
	// moving: its client was asked to move to another node (Shutdown): a
	// clean close of its transport is not a goodbye. unconfirmed: it moved
	// here, and its client has sent nothing since: it may not have got the
	// "connected" that told it so, and gets it again if it resumes.
	moving      bool
	unconfirmed bool
	// catching is set while signals it missed may still come from the
	// other nodes (move.go).
	catching *catchUp
	// retired is its media on this node after it moved to another one,
	// which forwards its streams until they come from there (move.go).
	retired *retiredMedia
}

// outboxSize bounds the messages queued for one client. A client that falls
// this far behind is disconnected rather than allowed to grow memory.
const outboxSize = 512

// ID returns the connection id.
func (c *Connection) ID() string { return c.id }

// Session returns the session the connection belongs to.
func (c *Connection) Session() *Session { return c.session }

// CreationTime returns when the connection was made.
func (c *Connection) CreationTime() time.Time { return c.created }

// Data returns the connection data from the token.
func (c *Connection) Data() string { return c.token.Data }

// Role returns the token's role.
func (c *Connection) Role() Role { return c.token.Role }

// TokenID returns the id of the token the connection used (see TokenID).
func (c *Connection) TokenID() string { return c.token.ID }

// send queues b for the client. It must be called with the session lock
// held. It reports false when the client is too far behind. Connections
// without a client here (the host's, another node's) take nothing.
func (c *Connection) send(b []byte) bool {
	if c.gone || c.inProcess || c.remote() {
		return true
	}
	return c.out.push(b, outboxSize)
}

// sendSignal queues a signal for the client unless it is too far behind
// (signalBehind messages queued): signals are dropped before the client
// is. It must be called with the session lock held.
func (c *Connection) sendSignal(b []byte) bool {
	if c.gone || c.inProcess || c.remote() {
		return true
	}
	return c.out.push(b, signalBehind)
}

// outbox is the queue of encoded messages waiting for a connection's
// writer: at most outboxSize of them, in memory that grows only as needed.
type outbox struct {
	mu     sync.Mutex
	queue  [][]byte
	closed bool
	ready  chan struct{} // capacity 1: a message was queued or the outbox closed
}

func newOutbox() *outbox { return &outbox{ready: make(chan struct{}, 1)} }

// push queues b unless limit messages are queued already, and reports
// whether it did.
func (o *outbox) push(b []byte, limit int) bool {
	o.mu.Lock()
	if len(o.queue) >= limit {
		o.mu.Unlock()
		return false
	}
	o.queue = append(o.queue, b)
	o.mu.Unlock()
	o.wake()
	return true
}

// close marks the end of the messages; next returns what is queued first.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) wake() {
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// next returns the oldest queued message, waiting for one. It returns nil
// once the outbox is closed and empty (closed true), or when done is closed.
func (o *outbox) next(done <-chan struct{}) (b []byte, closed bool) {
	for {
		o.mu.Lock()
		if len(o.queue) > 0 {
			b = o.queue[0]
			o.queue[0] = nil
			o.queue = o.queue[1:]
			if len(o.queue) == 0 {
				o.queue = nil // let a burst's memory go
			}
			o.mu.Unlock()
			return b, false
		}
		closed = o.closed
		o.mu.Unlock()
		if closed {
			return nil, true
		}
		select {
		case <-o.ready:
		case <-done:
			return nil, false
		}
	}
}

// link is one transport attached to a connection, with the goroutine that
// writes the connection's queued messages to it.
type link struct {
	t      signaling.Transport
	done   chan struct{} // closed when the link is replaced or the connection ends
	exited chan struct{} // closed when its writer has stopped
}

func newLink(t signaling.Transport) *link {
	return &link{t: t, done: make(chan struct{}), exited: make(chan struct{})}
}

// writeTimeout bounds one write to a client.
const writeTimeout = 10 * time.Second

// writeLoop runs the writer of link l. Once the previous link's writer has
// stopped (prev, if any), it writes first, then the messages after number
// replayFrom that earlier writers took, then copies queued messages until the
// link is replaced or the connection ends. When the connection ends it
// flushes what is queued and closes the transport.
func (c *Connection) writeLoop(l *link, prev *link, first []byte, replayFrom uint64) {
	defer close(l.exited)
	if prev != nil {
		<-prev.exited
	}
	if first != nil && !write(l.t, first) {
		return
	}
	for _, b := range c.replay(replayFrom) {
		if !write(l.t, b) {
			return
		}
	}
	for {
		b, closed := c.out.next(l.done)
		if b == nil {
			if closed {
				_ = l.t.Close() // the goodbye; the reader ends with it
			}
			return
		}
		c.record(b)
		if !write(l.t, b) {
			return
		}
	}
}

// record keeps b, a message about to be written, for replay.
func (c *Connection) record(b []byte) {
	c.sentMu.Lock()
	defer c.sentMu.Unlock()
	if len(c.sent) < outboxSize {
		c.sent = append(c.sent, b) // the ring grows until it is full
	} else {
		c.sent[c.written%outboxSize] = b
	}
	c.written++
}

// sentCount returns how many messages writers took from the outbox.
func (c *Connection) sentCount() uint64 {
	c.sentMu.Lock()
	defer c.sentMu.Unlock()
	return c.written
}

// canReplay reports whether the messages after number from are all kept.
func (c *Connection) canReplay(from uint64) bool {
	c.sentMu.Lock()
	defer c.sentMu.Unlock()
	return from <= c.written && c.written-from <= outboxSize
}

// replay returns the kept messages after number from.
func (c *Connection) replay(from uint64) [][]byte {
	c.sentMu.Lock()
	defer c.sentMu.Unlock()
	var list [][]byte
	for i := from; i < c.written; i++ {
		list = append(list, c.sent[i%outboxSize])
	}
	return list
}

// write sends b, and drops the transport if that fails: the reader then sees
// the broken transport and detaches the connection.
func write(t signaling.Transport, b []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := t.WriteMessage(ctx, b); err != nil {
		signaling.CloseNow(t)
		return false
	}
	return true
}
