package sfu

import (
	"sync"
	"time"
)

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
	at   int64  // when it was stored, in Unix nanoseconds
	size uint16
	meta packetMeta
}

// cacheKeep is how long a packet cache that may still grow keeps packets
// at least.
const cacheKeep = time.Second

// packetCache keeps the most recent packets of one Track, indexed by
// extended sequence number. It is shared by every subscriber of the Track:
// queued packets are copied out of it by the subscribers' writers, and NACKs
// are answered from it. Payloads live in one preallocated buffer, so storing
// and reading never allocate, but when the cache grows.
//
// A cache starts small and doubles, up to its largest size, while it
// would otherwise evict a packet stored less than cacheKeep ago (libwebrtc
// keeps a second of packets at least): a Track keeps what its rate needs,
// not what the fastest one would (a 400 kbit/s video Track fills 64 slots
// of 1,500 bytes a second, a 2.5 Mbit/s one 512), and what its
// subscribers' queues still hold when they fall behind. Its slots, all of
// one width, widen when a payload does not fit, up to maxPayload: audio
// packets (Opus: ~100 bytes) need a sixth of a video packet's. It never
// shrinks.
type packetCache struct {
	mu      sync.RWMutex
	mask    uint64
	slots   []cacheSlot
	buf     []byte
	width   int    // bytes a slot holds, up to maxPayload
	highest uint64 // highest extended sequence number stored; 0 before the first
	max     int    // the most slots the cache grows to
}

// newPacketCache returns a cache for size packets of up to width bytes,
// which grows up to max packets (both counts rounded up to a power of two)
// and widens as larger payloads come.
func newPacketCache(size, max, width int) *packetCache {
	n := powerOfTwo(size)
	width = min(width, maxPayload)
	return &packetCache{
		mask:  uint64(n - 1),
		slots: make([]cacheSlot, n),
		buf:   make([]byte, n*width),
		width: width,
		max:   powerOfTwo(max),
	}
}

// powerOfTwo returns the smallest power of two not below n.
func powerOfTwo(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// put stores a packet's payload and header fields, received at now (Unix
// nanoseconds). It reports false, and
// stores nothing, for a duplicate, a packet too old for the cache, or a
// payload larger than maxPayload.
func (c *packetCache) put(ext uint64, payload []byte, meta packetMeta, now int64) bool {
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
	n, width := len(c.slots), c.width
	if s.ext != 0 && now-s.at < int64(cacheKeep) && n < c.max {
		n *= 2
	}
	if len(payload) > width {
		width = min(powerOfTwo(len(payload)), maxPayload)
	}
	if n != len(c.slots) || width != c.width {
		c.resize(n, width)
		i = ext & c.mask
		s = &c.slots[i]
	}
	s.ext, s.at, s.size, s.meta = ext, now, uint16(len(payload)), meta
	copy(c.buf[i*uint64(c.width):], payload)
	if ext > c.highest {
		c.highest = ext
	}
	return true
}

// grow doubles the cache, keeping the packets it holds.
func (c *packetCache) grow() { c.resize(2*len(c.slots), c.width) }

// resize makes the cache n slots (a power of two, no fewer than it has) of
// width bytes (no fewer than it has), keeping the packets it holds.
func (c *packetCache) resize(n, width int) {
	slots, buf := make([]cacheSlot, n), make([]byte, n*width)
	mask := uint64(n - 1)
	for i, s := range c.slots {
		if s.ext == 0 {
			continue
		}
		j := s.ext & mask
		slots[j] = s
		copy(buf[j*uint64(width):], c.buf[i*c.width:i*c.width+int(s.size)])
	}
	c.mask, c.slots, c.buf, c.width = mask, slots, buf, width
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
	off := i * uint64(c.width)
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
