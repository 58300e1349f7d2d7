//go:build linux && !crossbar_portable

package sfu

import (
	"encoding/binary"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

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
//
// Its recvmsg and sendmmsg are raw system calls, made without telling the
// Go scheduler (the socket is non-blocking: they never wait; when the
// kernel would block they return and the runtime's poller waits). Told,
// the scheduler wakes its monitor thread at each system call of a process
// that was idle, and the monitor then polls every 20 µs while the process
// works: on a host whose connections send little (small rooms, idle
// participants), a context switch or two for every packet received, about
// a fifth of the server's CPU in a room of 4 (see docs/performance.md).
type batchIO struct {
	raw    syscall.RawConn
	family uint16 // the socket's address family: AF_INET or AF_INET6
	zones  map[string]uint32

	// A read: recvFn, made once, reads into rbuf.
	recvFn func(fd uintptr) bool
	rbuf   []byte
	rhdr   unix.Msghdr
	riov   unix.Iovec
	rname  unix.RawSockaddrInet6 // the sender (an IPv4 one fits too)
	roob   []byte                // control messages: the arrival time
	rn     int
	rerr   error

	// A batch: sendFn, made once, sends hdrs[sent:nhdrs].
	sendFn  func(fd uintptr) bool
	hdrs    [batchSize]unix.Mmsghdr
	iovs    [batchSize]unix.Iovec
	names   [batchSize]unix.RawSockaddrInet6
	oob     [batchSize][]byte // a UDP_SEGMENT control message per message
	packets [batchSize]int    // packets in each message
	nhdrs   int
	sent    int
	wn      int
	werr    error
	gso     bool // the kernel accepts UDP_SEGMENT
}

func (b *batchIO) init(conn *net.UDPConn) {
	b.family = unix.AF_INET
	b.raw, _ = conn.SyscallConn() // fails only for a nil conn
	_ = b.raw.Control(func(fd uintptr) {
		// Without kernel timestamps, reads stamp packets themselves.
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if _, ok := sa.(*unix.SockaddrInet6); ok {
				b.family = unix.AF_INET6
			}
		}
	})
	// Heap-allocated, so 8-byte aligned for the control message header.
	b.roob = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	for i := range b.oob {
		b.oob[i] = make([]byte, unix.CmsgSpace(2))
	}
	b.recvFn, b.sendFn = b.recvmsg, b.sendmmsg
	b.gso = true
}

// read reads a datagram and returns when the kernel received it (Unix ns).
func (b *batchIO) read(_ *net.UDPConn, p []byte) (int, net.Addr, int64, error) {
	b.rbuf = p
	err := b.raw.Read(b.recvFn)
	b.rbuf = nil
	if err == nil {
		err = b.rerr
	}
	if err != nil {
		return 0, nil, 0, err
	}
	at, ok := kernelTime(b.roob[:b.rhdr.Controllen])
	if !ok {
		at = time.Now().UnixNano()
	}
	return b.rn, b.sender(), at, nil
}

// recvmsg reads a datagram into rbuf, reporting false if there is none
// yet (the poller then waits for one).
func (b *batchIO) recvmsg(fd uintptr) bool {
	b.riov = unix.Iovec{}
	if len(b.rbuf) > 0 {
		b.riov.Base = &b.rbuf[0]
	}
	b.riov.SetLen(len(b.rbuf))
	b.rhdr = unix.Msghdr{
		Name:    (*byte)(unsafe.Pointer(&b.rname)),
		Namelen: unix.SizeofSockaddrInet6,
		Iov:     &b.riov,
		Control: &b.roob[0],
	}
	b.rhdr.SetIovlen(1)
	b.rhdr.SetControllen(len(b.roob))
	return rawCall("recvmsg", unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&b.rhdr)), 0, &b.rn, &b.rerr)
}

// rawCall makes the system call trap on a non-blocking socket, again if a
// signal interrupted it. It reports false if the call would block; else
// it sets n and err, named op, to the call's outcome.
func rawCall(op string, trap, fd, a2, a3 uintptr, n *int, err *error) bool {
	for {
		r, _, e := unix.RawSyscall(trap, fd, a2, a3)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			*n, *err = int(r), nil
		default:
			*n, *err = 0, os.NewSyscallError(op, e)
		}
		return true
	}
}

// sender returns the address of the datagram just read.
func (b *batchIO) sender() *net.UDPAddr {
	port := func(p *uint16) int { return int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:])) }
	if b.rname.Family == unix.AF_INET {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.rname))
		return &net.UDPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: port(&sa.Port)}
	}
	a := &net.UDPAddr{IP: append(net.IP(nil), b.rname.Addr[:]...), Port: port(&b.rname.Port)}
	if b.rname.Scope_id != 0 {
		a.Zone = zoneName(b.rname.Scope_id)
	}
	return a
}

// zoneName names the interface of an IPv6 scope, as package net does.
func zoneName(index uint32) string {
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

// send writes the packets bufs[i] to addrs[i].
func (b *batchIO) send(_ *net.UDPConn, bufs [][]byte, addrs []*net.UDPAddr) error {
	b.messages(bufs, addrs, 0)
	var err error
	b.sent = 0
	for packets := 0; b.sent < b.nhdrs; {
		if err = b.raw.Write(b.sendFn); err == nil {
			err = b.werr
		}
		n := b.wn
		if err != nil && b.hdrs[b.sent].Hdr.Controllen > 0 {
			b.gso = false // resend the rest without GSO
			b.messages(bufs, addrs, packets)
			b.sent, err = 0, nil
			continue
		}
		if err != nil {
			n = 1 // skip the message the kernel refused
		}
		for _, k := range b.packets[b.sent : b.sent+n] {
			packets += k
		}
		b.sent += n
	}
	clear(b.iovs[:]) // the packets' buffers are the caller's
	return err
}

// sendmmsg sends the messages from hdrs[sent], reporting false if the
// socket's buffer is full (the poller then waits for room).
func (b *batchIO) sendmmsg(fd uintptr) bool {
	return rawCall("sendmmsg", unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[b.sent])), uintptr(b.nhdrs-b.sent), &b.wn, &b.werr)
}

// messages builds the sendmmsg messages of the packets from the one at
// index from in hdrs[:nhdrs].
func (b *batchIO) messages(bufs [][]byte, addrs []*net.UDPAddr, from int) {
	m := 0
	for i := from; i < len(bufs); m++ {
		size, total := len(bufs[i]), len(bufs[i])
		j := i + 1
		for b.gso && j < len(bufs) && j-i < maxGSOSegments && sameAddr(addrs[j], addrs[i]) &&
			len(bufs[j-1]) == size && len(bufs[j]) <= size && total+len(bufs[j]) <= maxGSOBytes {
			total += len(bufs[j])
			j++
		}
		for k := i; k < j; k++ {
			b.iovs[k] = unix.Iovec{}
			if len(bufs[k]) > 0 {
				b.iovs[k].Base = &bufs[k][0]
			}
			b.iovs[k].SetLen(len(bufs[k]))
		}
		h := &b.hdrs[m].Hdr
		*h = unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&b.names[m])),
			Namelen: b.sockaddr(&b.names[m], addrs[i]),
			Iov:     &b.iovs[i],
		}
		h.SetIovlen(j - i)
		if j-i > 1 {
			oob := segmentSize(b.oob[m], size)
			h.Control = &oob[0]
			h.SetControllen(len(oob))
		}
		b.packets[m] = j - i
		i = j
	}
	b.nhdrs = m
}

// sockaddr writes addr as a socket address of the socket's family into sa
// and returns its length.
func (b *batchIO) sockaddr(sa *unix.RawSockaddrInet6, addr *net.UDPAddr) uint32 {
	port := uint16(addr.Port)
	if b.family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:], port)
		copy(sa4.Addr[:], addr.IP.To4())
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
	copy(sa.Addr[:], addr.IP.To16())
	if addr.Zone != "" {
		sa.Scope_id = b.zoneIndex(addr.Zone)
	}
	return unix.SizeofSockaddrInet6
}

// zoneIndex returns the index of the interface named zone, remembered.
func (b *batchIO) zoneIndex(zone string) uint32 {
	if i, ok := b.zones[zone]; ok {
		return i
	}
	var i uint32
	if ifi, err := net.InterfaceByName(zone); err == nil {
		i = uint32(ifi.Index)
	} else if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		i = uint32(n)
	}
	if b.zones == nil {
		b.zones = make(map[string]uint32)
	}
	b.zones[zone] = i
	return i
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
