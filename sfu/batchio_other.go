//go:build !linux || crossbar_portable

package sfu

import (
	"net"
	"time"
)

// batchIO writes the packets of a batch one by one and stamps reads with
// the time they return: the portable way, with the same behaviour as the
// Linux one but a system call per packet.
type batchIO struct{}

func (*batchIO) init(*net.UDPConn) {}

// read reads a datagram and returns when it was read (Unix ns).
func (*batchIO) read(conn *net.UDPConn, p []byte) (int, net.Addr, int64, error) {
	n, addr, err := conn.ReadFromUDP(p)
	if err != nil {
		return n, nil, 0, err
	}
	return n, addr, time.Now().UnixNano(), nil
}

// send writes the packets bufs[i] to addrs[i]; a packet the kernel refuses
// is dropped, and the last such error returned.
func (*batchIO) send(conn *net.UDPConn, bufs [][]byte, addrs []*net.UDPAddr) error {
	var last error
	for i, b := range bufs {
		if _, err := conn.WriteToUDP(b, addrs[i]); err != nil {
			last = err
		}
	}
	return last
}
