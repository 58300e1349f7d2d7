package signaling

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Pipe returns the two ends of an in-memory transport, as net.Pipe does for
// connections: what one end writes, the other reads. Writes are
// synchronous: WriteMessage returns once the other end's ReadMessage took
// the message, so nothing is in flight when the pipe closes.
//
// The ends keep the contract of the package documentation. Close on either
// end closes the pipe in an orderly way (ErrClosed on both ends), CloseNow
// drops it (another error on both ends), and a message over MaxMessageSize
// drops it as the WebSocket does. Pipes have no keep-alive of their own: the
// server and the Go client run the protocol's pings over them. Tests of a
// server or a client use them to connect one to the other without a
// network, and a host can serve a client in its own process with one.
func Pipe() (*PipeEnd, *PipeEnd) {
	st := &pipeState{done: make(chan struct{})}
	ab, ba := make(chan []byte), make(chan []byte)
	return &PipeEnd{in: ba, out: ab, st: st}, &PipeEnd{in: ab, out: ba, st: st}
}

// PipeEnd is one end of a Pipe.
type PipeEnd struct {
	in  <-chan []byte
	out chan<- []byte
	st  *pipeState
}

// pipeState is what the two ends of a pipe share: how it ended.
type pipeState struct {
	once sync.Once
	done chan struct{} // closed when the pipe ends
	err  error         // why: ErrClosed or a failure; set before done closes
}

// end ends the pipe with err, unless it has ended already.
func (st *pipeState) end(err error) {
	st.once.Do(func() {
		st.err = err
		close(st.done)
	})
}

// ended returns why the pipe ended, or nil.
func (st *pipeState) ended() error {
	select {
	case <-st.done:
		return st.err
	default:
		return nil
	}
}

// errDropped is what both ends of a dropped pipe read and write.
var errDropped = errors.New("signaling: pipe dropped")

// ReadMessage implements Transport.
func (p *PipeEnd) ReadMessage(ctx context.Context) ([]byte, error) {
	if err := p.st.ended(); err != nil {
		return nil, err
	}
	select {
	case b := <-p.in:
		return b, nil
	case <-p.st.done:
		return nil, p.st.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// WriteMessage implements Transport. It waits for the other end to read b,
// and drops the pipe when b is over MaxMessageSize.
func (p *PipeEnd) WriteMessage(ctx context.Context, b []byte) error {
	if err := p.st.ended(); err != nil {
		return err
	}
	if len(b) > MaxMessageSize {
		err := fmt.Errorf("%w: a message of %d bytes exceeds the %d byte limit", errDropped, len(b), MaxMessageSize)
		p.st.end(err)
		return err
	}
	select {
	case p.out <- append([]byte(nil), b...):
		return nil
	case <-p.st.done:
		return p.st.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close implements Transport: it closes the pipe, both ends, in an orderly
// way. It always returns nil.
func (p *PipeEnd) Close() error {
	p.st.end(ErrClosed)
	return nil
}

// CloseNow drops the pipe, both ends, as a failed network would: they read
// and write an error other than ErrClosed. It always returns nil.
func (p *PipeEnd) CloseNow() error {
	p.st.end(errDropped)
	return nil
}
