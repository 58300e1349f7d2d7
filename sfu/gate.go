package sfu

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v2"
	"github.com/pion/transport/v2"
)

// Bounds of what one PeerConnection's gate lets through from SSRCs it does
// not know yet.
const (
	// maxPendingSSRCs bounds the RTP SSRCs admitted that are neither in
	// the remote description nor (yet) a track: simulcast layers before
	// Pion has matched them, or garbage. A connection publishes at most
	// 16 streams, each with at most 3 layers and audio.
	maxPendingSSRCs = 64
	// maxRTCPSenders bounds the RTCP sender SSRCs admitted that are
	// neither declared nor RTP SSRCs of the connection (receivers'
	// own report SSRCs).
	maxRTCPSenders = 32
	// maxRetiredSSRCs bounds the SSRCs of ended tracks kept to drop
	// their late packets: more tracks than a connection can have.
	maxRetiredSSRCs = 256
)

// ssrcState is what a gate knows of an RTP SSRC.
type ssrcState uint8

const (
	ssrcPending ssrcState = iota + 1 // admitted, not (yet) a track
	ssrcTrack                        // Pion made a track of it
	ssrcRetired                      // its track ended: late packets are dropped until the next remote description
)

// ssrcGate decides which RTP and RTCP packets reach one PeerConnection.
//
// Pion's SRTP session creates a read stream, and its SRTP context a replay
// window, for every SSRC it sees, before it authenticates the packet, and
// keeps them until the connection closes. Anyone who can send from a
// participant's address could grow the heap by a few hundred bytes a
// packet with random SSRCs. The gate sits between the network and Pion
// and admits only SSRCs the remote description declares, SSRCs Pion made
// tracks of, and a bounded number of others (simulcast layers are not
// declared: Pion learns them from their first packets).
type ssrcGate struct {
	mu       sync.Mutex
	declared map[uint32]struct{}  // a=ssrc of the remote description
	rtp      map[uint32]ssrcState // RTP SSRCs seen
	pending  int                  // entries of rtp in ssrcPending
	retired  []uint32             // ssrcRetired entries of rtp, oldest first
	senders  map[uint32]struct{}  // other RTCP senders admitted

	dropped atomic.Uint64
}

func newSSRCGate() *ssrcGate {
	return &ssrcGate{rtp: make(map[uint32]ssrcState), senders: make(map[uint32]struct{})}
}

// admit reports whether a datagram from the network may reach Pion. Only
// RTP and RTCP are judged; STUN, DTLS and anything else pass.
func (g *ssrcGate) admit(b []byte) bool {
	if len(b) < 12 || b[0]&0xc0 != 0x80 { // RFC 7983: RTP and RTCP are 128-191
		return true
	}
	g.mu.Lock()
	ok := g.admitLocked(b)
	g.mu.Unlock()
	if !ok {
		g.dropped.Add(1)
	}
	return ok
}

func (g *ssrcGate) admitLocked(b []byte) bool {
	if 192 <= b[1] && b[1] <= 223 { // RFC 5761: RTCP packet types 192-223
		ssrc := binary.BigEndian.Uint32(b[4:8])
		if _, ok := g.declared[ssrc]; ok {
			return true
		}
		if s := g.rtp[ssrc]; s == ssrcPending || s == ssrcTrack {
			return true
		}
		if _, ok := g.senders[ssrc]; ok {
			return true
		}
		if len(g.senders) >= maxRTCPSenders {
			return false
		}
		g.senders[ssrc] = struct{}{}
		return true
	}
	ssrc := binary.BigEndian.Uint32(b[8:12])
	switch g.rtp[ssrc] {
	case ssrcPending, ssrcTrack:
		return true
	case ssrcRetired:
		return false
	}
	if _, ok := g.declared[ssrc]; ok {
		return true
	}
	if g.pending >= maxPendingSSRCs {
		return false
	}
	g.rtp[ssrc] = ssrcPending
	g.pending++
	return true
}

// declare takes the SSRCs of a new remote description. The SSRCs of
// tracks that ended before it may be used again from now on: the client
// may reuse a transceiver.
func (g *ssrcGate) declare(sdp string) {
	ssrcs := ssrcsOf(sdp)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.declared = ssrcs
	for _, ssrc := range g.retired {
		delete(g.rtp, ssrc)
	}
	g.retired = g.retired[:0]
}

// track notes that Pion made a track of ssrc.
func (g *ssrcGate) track(ssrc uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.rtp[ssrc] {
	case ssrcPending:
		g.pending--
	case ssrcRetired:
		return
	}
	g.rtp[ssrc] = ssrcTrack
}

// retire notes that the track of ssrc ended.
func (g *ssrcGate) retire(ssrc uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.rtp[ssrc] {
	case ssrcRetired:
		return
	case ssrcPending:
		g.pending--
	}
	if len(g.retired) >= maxRetiredSSRCs {
		delete(g.rtp, g.retired[0])
		g.retired = g.retired[1:]
	}
	g.rtp[ssrc] = ssrcRetired
	g.retired = append(g.retired, ssrc)
}

// ssrcsOf returns the SSRCs of an SDP's a=ssrc lines.
func ssrcsOf(sdp string) map[uint32]struct{} {
	ssrcs := make(map[uint32]struct{})
	for line := range strings.Lines(sdp) {
		rest, ok := strings.CutPrefix(line, "a=ssrc:")
		if !ok {
			continue
		}
		if i := strings.IndexAny(rest, " \r\n"); i >= 0 {
			rest = rest[:i]
		}
		if n, err := strconv.ParseUint(rest, 10, 32); err == nil {
			ssrcs[uint32(n)] = struct{}{}
		}
	}
	return ssrcs
}

// gatedConn is a PeerConnection's ICE socket (or its share of a mux) with
// its gate in front of Pion.
type gatedConn struct {
	net.PacketConn
	gate *ssrcGate
}

// ReadFrom returns the next datagram the gate admits.
func (c gatedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || c.gate.admit(b[:n]) {
			return n, addr, err
		}
	}
}

// gatedUDPMux hands one PeerConnection its gated share of the engine's
// shared UDP socket.
type gatedUDPMux struct {
	ice.UDPMux
	gate *ssrcGate
}

func (m gatedUDPMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	c, err := m.UDPMux.GetConn(ufrag, addr)
	if err != nil {
		return nil, err
	}
	return gatedConn{c, m.gate}, nil
}

// gatedTCPMux hands one PeerConnection its gated share of the ICE-TCP
// listener.
type gatedTCPMux struct {
	ice.TCPMux
	gate *ssrcGate
}

func (m gatedTCPMux) GetConnByUfrag(ufrag string, isIPv6 bool, local net.IP) (net.PacketConn, error) {
	c, err := m.TCPMux.GetConnByUfrag(ufrag, isIPv6, local)
	if err != nil {
		return nil, err
	}
	return gatedConn{c, m.gate}, nil
}

// gatedNet opens one PeerConnection's own UDP sockets (a port range),
// gated.
type gatedNet struct {
	transport.Net
	gate *ssrcGate
}

func (n gatedNet) ListenUDP(network string, addr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, addr)
	if err != nil {
		return nil, err
	}
	return gatedUDPConn{c, n.gate}, nil
}

// gatedUDPConn is a gated UDP socket of a port range. ICE reads it with
// ReadFrom only.
type gatedUDPConn struct {
	transport.UDPConn
	gate *ssrcGate
}

// ReadFrom returns the next datagram the gate admits.
func (c gatedUDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	return gatedConn{c.UDPConn, c.gate}.ReadFrom(b)
}
