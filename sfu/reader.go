package sfu

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"

	"github.com/pion/rtp"
)

// Reader receives a Track's packets in-process (a recorder, for example),
// rewritten like a DownTrack's: one SSRC, continuous sequence numbers and
// timestamps. Packets wait in a bounded queue; those that do not fit are
// dropped and counted.
type Reader struct {
	d *DownTrack
}

// NewReader attaches a Reader to the Track, buffering up to bufPackets
// packets (default as for SubscribeOptions.QueueSize when <= 0). A video
// Reader starts at a keyframe, which it requests.
func (t *Track) NewReader(bufPackets int) (*Reader, error) {
	ready := new(atomic.Bool) // an in-process reader is always ready
	ready.Store(true)
	d := newDownTrack(t, SubscribeOptions{QueueSize: bufPackets}, ready, nil)
	d.ssrc, d.bound = rand.Uint32(), true
	if err := t.addDownTrack(d); err != nil {
		return nil, fmt.Errorf("sfu: reader for track %q: %w", t.id, err)
	}
	return &Reader{d: d}, nil
}

// ReadRTP returns the next packet. It blocks until one is available or ctx
// is done, and returns io.EOF once the Reader or its Track is closed and
// the queue is drained.
func (r *Reader) ReadRTP(ctx context.Context) (*rtp.Packet, error) {
	d := r.d
	for {
		d.mu.Lock()
		e, ok := d.q.pop()
		closed := d.closed
		d.mu.Unlock()
		if ok {
			if p := d.readerPacket(e); p != nil {
				return p, nil
			}
			continue
		}
		if closed {
			return nil, io.EOF
		}
		select {
		case <-d.wake:
		case <-d.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readerPacket builds the packet of a queue entry, or nil if it left the
// Track's cache before it was read.
func (d *DownTrack) readerPacket(e queueEntry) *rtp.Packet {
	buf := make([]byte, maxPayload)
	n, meta, ok := d.payload(e, buf)
	if !ok {
		d.dropped.Add(1)
		return nil
	}
	p := &rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Padding:        meta.padding,
			Marker:         meta.marker,
			PayloadType:    meta.payloadType,
			SequenceNumber: e.seq,
			Timestamp:      meta.ts - e.tsDelta,
			SSRC:           d.ssrc,
		},
		Payload: buf[:n],
	}
	if meta.padding {
		pad := buf[n-1]
		p.Header.PaddingSize = pad
		p.Payload = buf[:n-int(pad)]
	}
	d.packetsOut.Add(1)
	d.bytesOut.Add(uint64(rtpHeaderSize + n))
	return p
}

// Stats returns the Reader's counters.
func (r *Reader) Stats() DownTrackStats { return r.d.Stats() }

// Close detaches the Reader from its Track; ReadRTP then returns io.EOF.
func (r *Reader) Close() {
	r.d.track.removeDownTrack(r.d)
	r.d.close()
}
