package sfu

import (
	"bytes"
	"testing"
)

func TestPacketCachePutGet(t *testing.T) {
	c := newPacketCache(100) // rounded to 128
	if len(c.slots) != 128 {
		t.Fatalf("%d slots", len(c.slots))
	}
	buf := make([]byte, maxPayload)
	for ext := uint64(1 << 16); ext < 1<<16+300; ext++ {
		payload := bytes.Repeat([]byte{byte(ext)}, int(ext%50)+1)
		if !c.put(ext, payload, packetMeta{ts: uint32(ext), marker: ext%2 == 0}) {
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
	if c.put(last, []byte{1}, packetMeta{}) {
		t.Fatal("duplicate accepted")
	}
	if c.put(last-128, []byte{1}, packetMeta{}) {
		t.Fatal("packet older than the cache accepted")
	}
	if c.put(last+1, make([]byte, maxPayload+1), packetMeta{}) {
		t.Fatal("oversized payload accepted")
	}
	// A late packet within the window fills its hole.
	c2 := newPacketCache(16)
	c2.put(100, []byte{1}, packetMeta{})
	c2.put(102, []byte{3}, packetMeta{})
	if !c2.put(101, []byte{2}, packetMeta{}) || !c2.contains(101) {
		t.Fatal("late packet refused")
	}
}

func TestPacketCacheExtend(t *testing.T) {
	c := newPacketCache(16)
	if _, ok := c.extend(5); ok {
		t.Fatal("extend on empty cache")
	}
	base := uint64(3<<16 + 65530)
	c.put(base, []byte{0}, packetMeta{})
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
