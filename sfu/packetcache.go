package sfu

import "sync"

// maxPayload is the largest RTP payload (including padding) the engine
// forwards; larger packets do not fit a cache slot and are dropped.
const maxPayload = 1500

// packetMeta is what a Track keeps of a packet's header: enough to rebuild
// it for any subscriber.
type packetMeta struct {
	ts          uint32
	payloadType uint8
	marker      bool
	padding     bool
	hasLevel    bool  // the packet carried an audio level (RFC 6464)
	level       uint8 // its V bit and level byte
	frameEnd    uint8 // VP9: the spatial layer, +1, whose frame the packet ends; 0: none
}

// cacheSlot describes one stored packet.
type cacheSlot struct {
	ext  uint64 // extended sequence number; 0 means empty
	size uint16
	meta packetMeta
}

// packetCache keeps the most recent packets of one Track, indexed by
// extended sequence number. It is shared by every subscriber of the Track:
// queued packets are copied out of it by the subscribers' writers, and NACKs
// are answered from it. Payloads live in one preallocated buffer, so storing
// and reading never allocate.
type packetCache struct {
	mu      sync.RWMutex
	mask    uint64
	slots   []cacheSlot
	buf     []byte
	highest uint64 // highest extended sequence number stored; 0 before the first
}

// newPacketCache returns a cache for size packets, rounded up to a power of two.
func newPacketCache(size int) *packetCache {
	n := 1
	for n < size {
		n <<= 1
	}
	return &packetCache{
		mask:  uint64(n - 1),
		slots: make([]cacheSlot, n),
		buf:   make([]byte, n*maxPayload),
	}
}

// put stores a packet's payload and header fields. It reports false, and
// stores nothing, for a duplicate, a packet too old for the cache, or a
// payload larger than maxPayload.
func (c *packetCache) put(ext uint64, payload []byte, meta packetMeta) bool {
	if len(payload) > maxPayload || ext == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.highest > c.mask && ext <= c.highest-c.mask-1 {
		return false
	}
	i := ext & c.mask
	s := &c.slots[i]
	if s.ext == ext {
		return false
	}
	s.ext, s.size, s.meta = ext, uint16(len(payload)), meta
	copy(c.buf[i*maxPayload:], payload)
	if ext > c.highest {
		c.highest = ext
	}
	return true
}

// get copies the payload of packet ext into dst (at least maxPayload bytes)
// and returns its length and header fields; ok is false if the packet is not
// (or no longer) in the cache.
func (c *packetCache) get(ext uint64, dst []byte) (n int, meta packetMeta, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i := ext & c.mask
	s := &c.slots[i]
	if s.ext != ext || ext == 0 {
		return 0, packetMeta{}, false
	}
	off := i * maxPayload
	n = copy(dst, c.buf[off:off+uint64(s.size)])
	return n, s.meta, true
}

// timestamp returns the RTP timestamp of packet ext, if it is in the cache.
func (c *packetCache) timestamp(ext uint64) (uint32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &c.slots[ext&c.mask]
	if s.ext != ext || ext == 0 {
		return 0, false
	}
	return s.meta.ts, true
}

// contains reports whether packet ext is in the cache.
func (c *packetCache) contains(ext uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return ext != 0 && c.slots[ext&c.mask].ext == ext
}

// extend turns a 16-bit sequence number into the extended sequence number
// closest to the highest one stored; ok is false before the first packet.
func (c *packetCache) extend(seq uint16) (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.highest == 0 {
		return 0, false
	}
	return unwrapSeq(c.highest, seq), true
}

// unwrapSeq returns the extended sequence number for seq that is closest to
// the extended sequence number ref.
func unwrapSeq(ref uint64, seq uint16) uint64 {
	return uint64(int64(ref) + int64(int16(seq-uint16(ref))))
}
