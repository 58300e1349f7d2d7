package sfu

// queueEntry is one packet waiting to be sent to a subscriber: which cached
// packet, and how to rewrite it.
type queueEntry struct {
	ext      uint64 // the layer's extended sequence number
	seq      uint16 // output sequence number
	tsDelta  uint32 // output timestamp = source timestamp - tsDelta
	picDelta uint16 // VP8: output picture ID = source picture ID - picDelta
	layer    uint8  // which layer of the Track
	tl0Delta uint8  // VP8: output TL0PICIDX = source TL0PICIDX - tl0Delta
	probe    bool   // a copy sent again to probe the bandwidth, not counted as sent
	// top is, for a scalable VP9 track, the highest spatial layer
	// forwarded, +1: the packet that ends its frame (packetMeta.frameEnd)
	// gets the marker bit. 0: the source's marker bit stays.
	top uint8
}

// queue is a fixed-size FIFO of queueEntry. It is not synchronized.
type queue struct {
	entries    []queueEntry
	head, size int
}

func newQueue(capacity int) queue {
	return queue{entries: make([]queueEntry, capacity)}
}

// push appends e, reporting false if the queue is full.
func (q *queue) push(e queueEntry) bool {
	if q.size == len(q.entries) {
		return false
	}
	q.entries[(q.head+q.size)%len(q.entries)] = e
	q.size++
	return true
}

// pop removes and returns the oldest entry.
func (q *queue) pop() (queueEntry, bool) {
	if q.size == 0 {
		return queueEntry{}, false
	}
	e := q.entries[q.head]
	q.head = (q.head + 1) % len(q.entries)
	q.size--
	return e, true
}
