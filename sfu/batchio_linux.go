//go:build linux && !crossbar_portable

package sfu

import (
	"encoding/binary"
	"net"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const (
	// maxGSOSegments and maxGSOBytes bound one UDP GSO message (the
	// kernel's UDP_MAX_SEGMENTS and the size of an IP packet).
	maxGSOSegments = 64
	maxGSOBytes    = 65000
)

// batchIO reads with the kernel's receive times and writes a batch in one
// sendmmsg call, runs of one size to one address as UDP GSO messages. If
// the kernel refuses GSO, it falls back to one message per packet.
type batchIO struct {
	batch interface {
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
	roob []byte            // control messages of a read: the arrival time
	msgs []ipv4.Message    // messages of the batch being sent
	oob  [batchSize][]byte // a UDP_SEGMENT control message per message
	gso  bool              // the kernel accepts UDP_SEGMENT
}

func (b *batchIO) init(conn *net.UDPConn) {
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			// Without kernel timestamps, reads stamp packets themselves.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
	// Heap-allocated, so 8-byte aligned for the control message header.
	b.roob = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	if addr, ok := conn.LocalAddr().(*net.UDPAddr); ok && addr.IP.To4() == nil {
		b.batch = ipv6.NewPacketConn(conn)
	} else {
		b.batch = ipv4.NewPacketConn(conn)
	}
	b.msgs = make([]ipv4.Message, 0, batchSize)
	for i := range b.oob {
		b.oob[i] = make([]byte, unix.CmsgSpace(2))
	}
	b.gso = true
}

// read reads a datagram and returns when the kernel received it (Unix ns).
func (b *batchIO) read(conn *net.UDPConn, p []byte) (int, net.Addr, int64, error) {
	n, oobn, _, addr, err := conn.ReadMsgUDP(p, b.roob)
	if err != nil {
		return n, nil, 0, err
	}
	at, ok := kernelTime(b.roob[:oobn])
	if !ok {
		at = time.Now().UnixNano()
	}
	return n, addr, at, nil
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

// send writes the packets bufs[i] to addrs[i].
func (b *batchIO) send(_ *net.UDPConn, bufs [][]byte, addrs []*net.UDPAddr) error {
	msgs := b.messages(bufs, addrs, 0)
	var err error
	for sent, packets := 0, 0; sent < len(msgs); {
		var n int
		n, err = b.batch.WriteBatch(msgs[sent:], 0)
		if err != nil && len(msgs[sent].OOB) > 0 {
			b.gso = false // resend the rest without GSO
			msgs, sent, err = b.messages(bufs, addrs, packets), 0, nil
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
	return err
}

// messages builds the sendmmsg messages of the packets from the one at
// index from.
func (b *batchIO) messages(bufs [][]byte, addrs []*net.UDPAddr, from int) []ipv4.Message {
	msgs := b.msgs[:0]
	for i := from; i < len(bufs); {
		size, total := len(bufs[i]), len(bufs[i])
		j := i + 1
		for b.gso && j < len(bufs) && j-i < maxGSOSegments && sameAddr(addrs[j], addrs[i]) &&
			len(bufs[j-1]) == size && len(bufs[j]) <= size && total+len(bufs[j]) <= maxGSOBytes {
			total += len(bufs[j])
			j++
		}
		m := ipv4.Message{Buffers: bufs[i:j], Addr: addrs[i]}
		if j-i > 1 {
			m.OOB = segmentSize(b.oob[len(msgs)], size)
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
