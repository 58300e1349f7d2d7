package sfu

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// batchSize is how many packets wait for one batch of writes.
	batchSize = 64
	// batchInterval is the longest a packet waits for its batch to fill.
	batchInterval = time.Millisecond
	// maxDatagram bounds one packet written to a batchConn; larger ones
	// are sent on their own.
	maxDatagram = 1500
)

// batchConn is the engine's shared UDP socket with batched writes. WriteTo
// queues a copy of the packet; the queue is sent when it holds batchSize
// packets or its oldest packet has waited batchInterval. On Linux a batch
// goes in one sendmmsg call, and consecutive packets to the same address,
// all of one size but the last (the packets of one video frame to one
// subscriber), as one UDP GSO message: the kernel splits it, so the whole
// run crosses the network stack once (batchio_linux.go). Elsewhere, or
// built with the crossbar_portable tag, the packets of a batch are written
// one by one (batchio_other.go).
//
// Writes are batched while a Track's reader forwards a packet (holds above
// zero): its copies leave together when it flushes. Other writes (RTCP,
// ICE checks) that find nothing queued and no forwarding under way are
// sent at once: waiting for the timer would cost a goroutine for each,
// and on a host whose connections are idle these are all the writes.
//
// Reads note, in an arrivalTable, when each RTP packet arrived (on Linux
// the kernel's receive time, SO_TIMESTAMPNS), for TWCC feedback.
type batchConn struct {
	*net.UDPConn
	arrivals *arrivalTable
	holds    *atomic.Int32 // forwarding goroutines writing now; nil: batch every write
	rmu      sync.Mutex    // serializes reads (their control message buffer)

	mu     sync.Mutex
	bufs   [batchSize][]byte       // queued packets, each with capacity maxDatagram
	addrs  [batchSize]*net.UDPAddr // and their destinations
	n      int                     // queued packets
	timer  *time.Timer             // flushes the batch after batchInterval
	armed  bool                    // timer is set
	closed bool

	io batchIO // the platform's way to read and write (guarded by rmu and mu)
}

// newBatchConn wraps a UDP socket; reads note arrival times in arrivals;
// writes are batched while holds is above zero (always if it is nil).
func newBatchConn(conn *net.UDPConn, arrivals *arrivalTable, holds *atomic.Int32) *batchConn {
	c := &batchConn{UDPConn: conn, arrivals: arrivals, holds: holds}
	for i := range c.bufs {
		c.bufs[i] = make([]byte, 0, maxDatagram)
	}
	c.io.init(conn)
	c.timer = time.AfterFunc(time.Hour, c.flushTimer)
	c.timer.Stop()
	return c
}

// ReadFrom reads a datagram and notes when it arrived.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, addr, at, err := c.io.read(c.UDPConn, b)
	if err != nil {
		return n, nil, err
	}
	c.arrivals.record(b[:n], at)
	return n, addr, nil
}

// WriteTo queues b for addr, a *net.UDPAddr, and reports it written.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	to, ok := addr.(*net.UDPAddr)
	if !ok || len(b) > maxDatagram {
		return c.UDPConn.WriteTo(b, addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.bufs[c.n] = append(c.bufs[c.n][:0], b...)
	c.addrs[c.n] = to
	c.n++
	if c.n == batchSize || c.n == 1 && c.holds != nil && c.holds.Load() == 0 {
		return len(b), c.flushLocked()
	}
	if !c.armed {
		c.armed = true
		c.timer.Reset(batchInterval)
	}
	return len(b), nil
}

// Flush sends the queued packets now: the engine calls it when it has
// written all the copies of a packet it received.
func (c *batchConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *batchConn) flushTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	_ = c.flushLocked()
}

// flushLocked sends the queued packets. Packets the kernel refuses are
// dropped, as a lossy network would.
func (c *batchConn) flushLocked() error {
	if c.n == 0 {
		return nil
	}
	if c.armed {
		c.timer.Stop()
		c.armed = false
	}
	err := c.io.send(c.UDPConn, c.bufs[:c.n], c.addrs[:c.n])
	clear(c.addrs[:c.n])
	c.n = 0
	return err
}

// Close sends what is queued and closes the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.timer.Stop()
	_ = c.flushLocked()
	c.mu.Unlock()
	return c.UDPConn.Close()
}
