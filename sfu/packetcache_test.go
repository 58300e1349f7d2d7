package sfu

import (
	"bytes"
	"testing"
	"time"
)

func TestPacketCachePutGet(t *testing.T) {
	c := newPacketCache(100, 100, maxPayload) // rounded to 128
	if len(c.slots) != 128 {
		t.Fatalf("%d slots", len(c.slots))
	}
	buf := make([]byte, maxPayload)
	for ext := uint64(1 << 16); ext < 1<<16+300; ext++ {
		payload := bytes.Repeat([]byte{byte(ext)}, int(ext%50)+1)
		if !c.put(ext, payload, packetMeta{ts: uint32(ext), marker: ext%2 == 0}, 0) {
			t.Fatalf("put %d refused", ext)
		}
		n, meta, ok := c.get(ext, buf)
		if !ok || !bytes.Equal(buf[:n], payload) || meta.ts != uint32(ext) || meta.marker != (ext%2 == 0) {
			t.Fatalf("get %d = %v %v %v", ext, buf[:n], meta, ok)
		}
	}
	last := uint64(1<<16 + 299)
	if _, _, ok := c.get(last-128, buf); ok {
		t.Fatal("evicted packet found")
	}
	if _, _, ok := c.get(last-127, buf); !ok {
		t.Fatal("oldest kept packet missing")
	}
	if c.put(last, []byte{1}, packetMeta{}, 0) {
		t.Fatal("duplicate accepted")
	}
	if c.put(last-128, []byte{1}, packetMeta{}, 0) {
		t.Fatal("packet older than the cache accepted")
	}
	if c.put(last+1, make([]byte, maxPayload+1), packetMeta{}, 0) {
		t.Fatal("oversized payload accepted")
	}
	// A late packet within the window fills its hole.
	c2 := newPacketCache(16, 16, maxPayload)
	c2.put(100, []byte{1}, packetMeta{}, 0)
	c2.put(102, []byte{3}, packetMeta{}, 0)
	if !c2.put(101, []byte{2}, packetMeta{}, 0) || !c2.contains(101) {
		t.Fatal("late packet refused")
	}
}

func TestPacketCacheExtend(t *testing.T) {
	c := newPacketCache(16, 16, maxPayload)
	if _, ok := c.extend(5); ok {
		t.Fatal("extend on empty cache")
	}
	base := uint64(3<<16 + 65530)
	c.put(base, []byte{0}, packetMeta{}, 0)
	for _, tc := range []struct {
		seq  uint16
		want uint64
	}{
		{65530, base},
		{65520, base - 10},
		{3, base + 9}, // after the wrap
	} {
		if got, _ := c.extend(tc.seq); got != tc.want {
			t.Errorf("extend(%d) = %d, want %d", tc.seq, got, tc.want)
		}
	}
}

func TestUnwrapSeq(t *testing.T) {
	if got := unwrapSeq(1<<16+65535, 0); got != 2<<16 {
		t.Fatalf("got %d", got)
	}
	if got := unwrapSeq(2<<16, 65535); got != 2<<16-1 {
		t.Fatalf("got %d", got)
	}
}

func TestQueue(t *testing.T) {
	q := newQueue(3)
	for i := 0; i < 3; i++ {
		if !q.push(queueEntry{seq: uint16(i)}) {
			t.Fatal("push refused")
		}
	}
	if q.push(queueEntry{}) {
		t.Fatal("push to a full queue")
	}
	for round := 0; round < 5; round++ {
		e, ok := q.pop()
		if !ok || e.seq != uint16(round) {
			t.Fatalf("pop %d = %v %v", round, e, ok)
		}
		q.push(queueEntry{seq: uint16(round + 3)})
	}
}

func TestPacketCacheGrowsToKeepASecond(t *testing.T) {
	// A packet every 10 ms: 100 packets a second need 128 slots.
	c := newPacketCache(16, 512, maxPayload)
	buf := make([]byte, maxPayload)
	ms := int64(time.Millisecond)
	for ext := uint64(1); ext <= 1000; ext++ {
		if !c.put(ext, []byte{byte(ext), byte(ext >> 8)}, packetMeta{ts: uint32(ext)}, int64(ext)*10*ms) {
			t.Fatalf("put %d refused", ext)
		}
		// What the cache held before it grew is still there.
		if ext == 40 {
			for old := uint64(1); old <= 40; old++ {
				n, meta, ok := c.get(old, buf)
				if !ok || n != 2 || buf[0] != byte(old) || meta.ts != uint32(old) {
					t.Fatalf("packet %d after growing: %v %v %v", old, buf[:n], meta, ok)
				}
			}
		}
	}
	if len(c.slots) != 128 {
		t.Fatalf("%d slots for 100 packets a second, want 128", len(c.slots))
	}
	if _, _, ok := c.get(1000-127, buf); !ok {
		t.Fatal("the oldest of 128 packets is missing")
	}
	// Packets ten times as fast grow it to its largest size only.
	for ext := uint64(1001); ext <= 3000; ext++ {
		c.put(ext, []byte{1}, packetMeta{}, 10_000*ms+int64(ext)*ms)
	}
	if len(c.slots) != 512 {
		t.Fatalf("%d slots, want the largest, 512", len(c.slots))
	}
}

func TestPacketCacheWidensForLargerPayloads(t *testing.T) {
	c := newPacketCache(16, 16, 256)
	buf := make([]byte, maxPayload)
	payload := func(ext uint64, n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(ext) + byte(i)
		}
		return p
	}
	for ext := uint64(1); ext <= 8; ext++ {
		c.put(ext, payload(ext, 100), packetMeta{ts: uint32(ext)}, 0)
	}
	if len(c.buf) != 16*256 {
		t.Fatalf("%d bytes for 16 slots of 256", len(c.buf))
	}
	// A payload wider than the slots widens them all, to the next power of
	// two, keeping what they held; one wider than 1,024 to maxPayload.
	if !c.put(9, payload(9, 300), packetMeta{ts: 9}, 0) || c.width != 512 {
		t.Fatalf("a payload of 300 bytes: slots of %d bytes, want 512", c.width)
	}
	if !c.put(10, payload(10, 1100), packetMeta{ts: 10}, 0) {
		t.Fatal("a payload of 1,100 bytes refused")
	}
	if c.width != maxPayload || len(c.buf) != 16*maxPayload {
		t.Fatalf("slots of %d bytes (%d in all) after a payload of 1,100, want %d", c.width, len(c.buf), maxPayload)
	}
	for ext := uint64(1); ext <= 10; ext++ {
		want := map[uint64]int{9: 300, 10: 1100}[ext]
		if want == 0 {
			want = 100
		}
		n, meta, ok := c.get(ext, buf)
		if !ok || meta.ts != uint32(ext) || !bytes.Equal(buf[:n], payload(ext, want)) {
			t.Fatalf("packet %d after widening: %d bytes, %v, %v", ext, n, meta, ok)
		}
	}
}
