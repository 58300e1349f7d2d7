package sfu

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const (
	// batchSize is how many packets wait for one sendmmsg system call.
	batchSize = 64
	// batchInterval is the longest a packet waits for its batch to fill.
	batchInterval = time.Millisecond
	// maxDatagram bounds one packet written to a batchConn; larger ones
	// are sent on their own.
	maxDatagram = 1500
	// maxGSOSegments and maxGSOBytes bound one UDP GSO message (the
	// kernel's UDP_MAX_SEGMENTS and the size of an IP packet).
	maxGSOSegments = 64
	maxGSOBytes    = 65000
)

// batchConn is the engine's shared UDP socket with batched writes. WriteTo
// queues a copy of the packet; the queue is sent when it holds batchSize
// packets or its oldest packet has waited batchInterval, in one sendmmsg
// call. Within a batch, consecutive packets to the same address, all of
// one size but the last (the packets of one video frame to one
// subscriber), go as one UDP GSO message: the kernel splits it, so the
// whole run crosses the network stack once. If the kernel refuses GSO, the
// socket falls back to one message per packet.
//
// Reads note, in an arrivalTable, when the kernel received each RTP packet
// (SO_TIMESTAMPNS), for TWCC feedback.
type batchConn struct {
	*net.UDPConn
	batch interface {
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}

	arrivals *arrivalTable
	rmu      sync.Mutex // guards roob
	roob     []byte     // control messages of a read: the arrival time

	mu     sync.Mutex
	bufs   [batchSize][]byte       // queued packets, each with capacity maxDatagram
	addrs  [batchSize]*net.UDPAddr // and their destinations
	n      int                     // queued packets
	msgs   []ipv4.Message          // messages of the batch being sent
	oob    [batchSize][]byte       // a UDP_SEGMENT control message per message
	timer  *time.Timer             // flushes the batch after batchInterval
	armed  bool                    // timer is set
	gso    bool                    // the kernel accepts UDP_SEGMENT
	closed bool
}

// newBatchConn wraps a UDP socket; reads note arrival times in arrivals.
func newBatchConn(conn *net.UDPConn, arrivals *arrivalTable) *batchConn {
	c := &batchConn{UDPConn: conn, gso: true, msgs: make([]ipv4.Message, 0, batchSize), arrivals: arrivals}
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			// Without kernel timestamps, reads stamp packets themselves.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
	// Heap-allocated, so 8-byte aligned for the control message header.
	c.roob = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	if addr, ok := conn.LocalAddr().(*net.UDPAddr); ok && addr.IP.To4() == nil {
		c.batch = ipv6.NewPacketConn(conn)
	} else {
		c.batch = ipv4.NewPacketConn(conn)
	}
	for i := range c.bufs {
		c.bufs[i] = make([]byte, 0, maxDatagram)
		c.oob[i] = make([]byte, unix.CmsgSpace(2))
	}
	c.timer = time.AfterFunc(time.Hour, c.flushTimer)
	c.timer.Stop()
	return c
}

// ReadFrom reads a datagram and notes when it arrived.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, oobn, _, addr, err := c.ReadMsgUDP(b, c.roob)
	if err != nil {
		return n, nil, err
	}
	at, ok := kernelTime(c.roob[:oobn])
	if !ok {
		at = time.Now().UnixNano()
	}
	c.arrivals.record(b[:n], at)
	return n, addr, nil
}

// kernelTime returns the receive time (Unix ns) in a read's control
// messages, if the kernel gave one.
func kernelTime(oob []byte) (int64, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		size := int(h.Len)
		if size < unix.SizeofCmsghdr || size > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && size >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			return (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)])).Nano(), true
		}
		oob = oob[min(unix.CmsgSpace(size-unix.CmsgLen(0)), len(oob)):]
	}
	return 0, false
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
	if c.n == batchSize {
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
	msgs := c.messages(0)
	var err error
	for sent, packets := 0, 0; sent < len(msgs); {
		var n int
		n, err = c.batch.WriteBatch(msgs[sent:], 0)
		if err != nil && len(msgs[sent].OOB) > 0 {
			c.gso = false // resend the rest without GSO
			msgs, sent, err = c.messages(packets), 0, nil
			continue
		}
		if err != nil {
			n = 1 // skip the message the kernel refused
		}
		for _, m := range msgs[sent : sent+n] {
			packets += len(m.Buffers)
		}
		sent += n
	}
	clear(c.addrs[:c.n])
	c.n = 0
	return err
}

// messages builds the sendmmsg messages of the queued packets from the
// one at index from.
func (c *batchConn) messages(from int) []ipv4.Message {
	msgs := c.msgs[:0]
	for i := from; i < c.n; {
		size, total := len(c.bufs[i]), len(c.bufs[i])
		j := i + 1
		for c.gso && j < c.n && j-i < maxGSOSegments && sameAddr(c.addrs[j], c.addrs[i]) &&
			len(c.bufs[j-1]) == size && len(c.bufs[j]) <= size && total+len(c.bufs[j]) <= maxGSOBytes {
			total += len(c.bufs[j])
			j++
		}
		m := ipv4.Message{Buffers: c.bufs[i:j], Addr: c.addrs[i]}
		if j-i > 1 {
			m.OOB = segmentSize(c.oob[len(msgs)], size)
		}
		msgs = append(msgs, m)
		i = j
	}
	return msgs
}

// segmentSize fills oob with a UDP_SEGMENT control message: the kernel
// splits the message's payload into datagrams of size bytes.
func segmentSize(oob []byte, size int) []byte {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
	return oob[:unix.CmsgSpace(2)]
}

func sameAddr(a, b *net.UDPAddr) bool {
	return a == b || (a.Port == b.Port && a.IP.Equal(b.IP) && a.Zone == b.Zone)
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
