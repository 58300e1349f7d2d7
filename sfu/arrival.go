package sfu

import (
	"encoding/binary"
	"sync/atomic"
)

// arrivalSlots is the size of an arrivalTable: at 20,000 packets a second
// received, a slot is reused after 400 ms, long after its packet was read.
const arrivalSlots = 1 << 13

// maxArrivalAge bounds how long before its read a packet's arrival time is
// believed; older stamps belong to another packet that shared its slot.
const maxArrivalAge = 500_000_000 // ns

// arrivalTable holds the time the kernel received each recent RTP packet on
// the engine's UDP sockets, keyed by SSRC and sequence number (both in the
// clear in an SRTP packet). TWCC feedback reports these times rather than
// the time a packet, once decrypted, reaches its reader: the goroutine
// hand-offs in between add a delay that grows with the host's load, which
// the publisher's congestion control would take for a congested network.
//
// A slot is one atomic word: 16 bits of SSRC, 16 of sequence number and the
// low 32 bits of the arrival time in microseconds. The writers (the
// sockets' readers) and readers (each stream's, after decryption) need no
// lock; a collision yields no time or, rarely, a wrong one within
// maxArrivalAge. The table is written before SRTP authentication, so a
// forged datagram can at most misplace one packet's arrival in its
// publisher's feedback.
type arrivalTable struct {
	slots [arrivalSlots]atomic.Uint64
}

// record notes that the datagram b arrived at t (Unix ns) if it is RTP.
func (a *arrivalTable) record(b []byte, t int64) {
	// RFC 7983: RTP and RTCP start with 128-191; RTCP packet types 192-223
	// take the second byte (RFC 5761).
	if len(b) < 12 || b[0] < 128 || b[0] > 191 || b[1] >= 192 && b[1] <= 223 {
		return
	}
	ssrc := binary.BigEndian.Uint32(b[8:12])
	seq := binary.BigEndian.Uint16(b[2:4])
	a.slots[arrivalSlot(ssrc, seq)].Store(arrivalKey(ssrc, seq)<<32 | uint64(uint32(t/1000)))
}

// lookup returns when the packet (ssrc, seq) arrived, in Unix ns, given the
// time now at which it is read.
func (a *arrivalTable) lookup(ssrc uint32, seq uint16, now int64) (int64, bool) {
	v := a.slots[arrivalSlot(ssrc, seq)].Load()
	if v>>32 != arrivalKey(ssrc, seq) {
		return 0, false
	}
	// The stamp keeps the low 32 bits of microseconds (71 minutes); it
	// lies shortly before now.
	age := int64(uint32(now/1000)-uint32(v)) * 1000
	if age > maxArrivalAge {
		return 0, false
	}
	return now - age, true
}

func arrivalKey(ssrc uint32, seq uint16) uint64 {
	return uint64(uint16(ssrc^ssrc>>16))<<16 | uint64(seq)
}

func arrivalSlot(ssrc uint32, seq uint16) uint32 {
	return (ssrc*0x9e3779b1 ^ uint32(seq)) % arrivalSlots
}
