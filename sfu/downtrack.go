package sfu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

const (
	defaultVideoQueue = 256 // packets that may wait for one video subscriber
	defaultAudioQueue = 64  // packets that may wait for one audio subscriber
	rtpHeaderSize     = 12  // forwarded packets carry no CSRC and no extensions
)

// ErrCodecNotNegotiated is returned by DownTrack.Bind when the subscriber
// did not accept the Track's codec.
var ErrCodecNotNegotiated = errors.New("sfu: subscriber did not negotiate the track's codec")

// SubscribeOptions tunes one subscription.
type SubscribeOptions struct {
	// StreamID is the stream id (msid) the subscriber sees, e.g. the
	// stream id of the browser's ontrack event.streams[0].id.
	// Default: the Track's StreamID.
	StreamID string
	// TrackID is the track id the subscriber sees. Default: the Track's ID.
	TrackID string
	// Paused starts the subscription paused (see DownTrack.SetPaused).
	Paused bool
	// QueueSize is how many packets may wait for the subscriber's transport
	// before new ones are dropped. Default: 256 for video, 64 for audio.
	QueueSize int
}

// DownTrack is one subscriber's copy of a Track: a webrtc.TrackLocal of its
// own that rewrites SSRC, payload type, sequence numbers and timestamps, so
// the subscriber's stream stays continuous across pauses and mutes. Packets
// wait in a bounded queue and are written by the DownTrack's own goroutine,
// so a slow subscriber delays no one else.
type DownTrack struct {
	track        *Track
	id, streamID string
	video        bool
	ready        *atomic.Bool // the subscriber's transport can carry media

	mu           sync.Mutex // guards the fields below
	rw           rewriter
	q            queue
	paused       bool
	needKeyframe bool
	keyframeAsk  int64 // when (ns) this subscriber last asked for a keyframe while waiting
	nacks        nackLog
	bound        bool
	closed       bool
	ssrc         uint32
	pt           uint8
	ws           webrtc.TrackLocalWriter

	wake      chan struct{} // a packet was queued (capacity 1)
	done      chan struct{} // closed by close
	closeOnce sync.Once

	// Used only by the writer goroutine.
	buf []byte
	hdr rtp.Header

	// onTrackClosed is set before the DownTrack is attached to its Track
	// and called once if the Track closes first.
	onTrackClosed func()

	packetsOut    atomic.Uint64
	bytesOut      atomic.Uint64
	dropped       atomic.Uint64
	nacksReceived atomic.Uint64
	nacksAnswered atomic.Uint64
	nacksSkipped  atomic.Uint64
	plisReceived  atomic.Uint64
	rtt           atomic.Int64
	fractionLost  atomic.Uint32
	packetsLost   atomic.Uint64
}

func newDownTrack(t *Track, opts SubscribeOptions, ready *atomic.Bool) *DownTrack {
	d := &DownTrack{
		track:    t,
		id:       opts.TrackID,
		streamID: opts.StreamID,
		video:    t.kind == webrtc.RTPCodecTypeVideo,
		ready:    ready,
		rw:       newRewriter(t.codec.ClockRate, uint16(rand.Uint32()), rand.Uint32()),
		paused:   opts.Paused,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		buf:      make([]byte, maxPayload),
	}
	if d.id == "" {
		d.id = t.id
	}
	if d.streamID == "" {
		d.streamID = t.streamID
	}
	d.needKeyframe = d.video && t.isKeyframe != nil
	size := opts.QueueSize
	if size <= 0 {
		size = defaultAudioQueue
		if d.video {
			size = defaultVideoQueue
		}
	}
	d.q = newQueue(size)
	return d
}

// Track returns the Track this DownTrack forwards.
func (d *DownTrack) Track() *Track { return d.track }

// ID returns the track id the subscriber sees (webrtc.TrackLocal).
func (d *DownTrack) ID() string { return d.id }

// StreamID returns the stream id the subscriber sees (webrtc.TrackLocal).
func (d *DownTrack) StreamID() string { return d.streamID }

// RID returns the simulcast RID, always empty (webrtc.TrackLocal).
func (d *DownTrack) RID() string { return "" }

// Kind returns the Track's kind (webrtc.TrackLocal).
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.track.kind }

// Bind is called by Pion when the subscriber's PeerConnection starts
// sending this track; it picks the negotiated codec matching the Track's.
// Forwarding starts with the first packet after Bind once the subscriber's
// connection is up: video waits for a keyframe, which that packet requests.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(d.track.codec.RTPCodecCapability, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("%w: %s", ErrCodecNotNegotiated, d.track.codec.MimeType)
	}
	d.mu.Lock()
	d.ssrc, d.pt, d.ws = uint32(ctx.SSRC()), uint8(codec.PayloadType), ctx.WriteStream()
	d.bound = true
	d.mu.Unlock()
	return codec, nil
}

// Unbind is called by Pion when the subscriber's PeerConnection stops
// sending this track (webrtc.TrackLocal).
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound, d.ws = false, nil
	d.mu.Unlock()
	return nil
}

// matchCodec finds the negotiated codec for a source codec: the same MIME
// type and format parameters, or failing that the same MIME type (and, for
// H.264, the same packetization mode).
func matchCodec(src webrtc.RTPCodecCapability, negotiated []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	for _, c := range negotiated {
		if strings.EqualFold(c.MimeType, src.MimeType) && c.SDPFmtpLine == src.SDPFmtpLine {
			return c, true
		}
	}
	for _, c := range negotiated {
		if strings.EqualFold(c.MimeType, src.MimeType) &&
			(!strings.EqualFold(src.MimeType, webrtc.MimeTypeH264) ||
				fmtpValue(c.SDPFmtpLine, "packetization-mode") == fmtpValue(src.SDPFmtpLine, "packetization-mode")) {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// fmtpValue returns the value of key in an a=fmtp parameter line.
func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// SetPaused stops (true) or resumes (false) forwarding to this subscriber,
// as when a client stops subscribing to video. The stream stays continuous;
// resumed video waits for, and requests, a keyframe.
func (d *DownTrack) SetPaused(paused bool) {
	d.mu.Lock()
	d.paused = paused
	d.mu.Unlock()
}

// Paused reports whether the DownTrack is paused.
func (d *DownTrack) Paused() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.paused
}

// Stats returns a snapshot of the DownTrack's counters.
func (d *DownTrack) Stats() DownTrackStats {
	return DownTrackStats{
		PacketsOut:     d.packetsOut.Load(),
		BytesOut:       d.bytesOut.Load(),
		PacketsDropped: d.dropped.Load(),
		NACKsReceived:  d.nacksReceived.Load(),
		NACKsAnswered:  d.nacksAnswered.Load(),
		NACKsSkipped:   d.nacksSkipped.Load(),
		PLIsReceived:   d.plisReceived.Load(),
		RTT:            time.Duration(d.rtt.Load()),
		FractionLost:   float64(d.fractionLost.Load()) / 256,
		PacketsLost:    d.packetsLost.Load(),
	}
}

// forward rewrites one packet of the Track for this subscriber and queues
// it. It never blocks on the subscriber's transport. It reports whether a
// keyframe should be requested: the subscriber waits for one and has not
// asked yet, or not for keyframeRetryInterval.
func (d *DownTrack) forward(p *forwardPacket) (wantKeyframe bool) {
	d.mu.Lock()
	if !d.bound || d.paused || p.muted || !d.ready.Load() {
		d.rw.gap()
		d.needKeyframe = d.video && d.track.isKeyframe != nil
		d.keyframeAsk = 0
		pending := d.q.size > 0 // the start of a frame cut short
		d.mu.Unlock()
		if pending {
			d.notify()
		}
		return false
	}
	if d.needKeyframe && !p.keyframe {
		if d.startFromCache(p) {
			d.needKeyframe = false
			d.mu.Unlock()
			d.notify()
			return false
		}
		if p.now-d.keyframeAsk >= int64(keyframeRetryInterval) {
			d.keyframeAsk, wantKeyframe = p.now, true
		}
		d.mu.Unlock()
		return wantKeyframe
	}
	d.needKeyframe = false
	seq, ts, ok := d.rw.rewrite(p.seq, p.ts, p.now)
	queued := ok && d.q.push(queueEntry{ext: p.ext, seq: seq, tsDelta: p.ts - ts})
	// Video is written a frame at a time: the frame is of no use to the
	// subscriber before its last packet anyway, and one wake of the writer
	// per frame instead of per packet saves CPU and lets the socket send the
	// frame in one go (batchConn).
	wake := !d.video || p.marker || d.q.size >= min(frameWakeBatch, len(d.q.entries)/2)
	d.mu.Unlock()
	switch {
	case queued && wake:
		d.notify()
	case !queued && ok:
		d.dropped.Add(1)
	}
	return false
}

// frameWakeBatch is how many video packets may wait for the end of their
// frame (the RTP marker bit) before the writer is woken all the same: a
// large frame, or a lost last packet.
const frameWakeBatch = 16

// startFromCache queues the Track's latest keyframe and every packet since,
// from the Track's cache, if that keyframe is recent (no older than
// keyframeRequestInterval, so no sooner than a new one could be had) and the
// packets fit in half the queue: a subscriber that joins or resumes then
// starts at once instead of waiting for a new keyframe. It reports whether
// it did. The caller holds d.mu.
func (d *DownTrack) startFromCache(p *forwardPacket) bool {
	k := p.lastKeyframe
	if k.ext == 0 || k.ext > p.ext || p.now-k.at > int64(keyframeRequestInterval) ||
		p.ext-k.ext >= uint64(len(d.q.entries)/2) || !d.track.cache.contains(k.ext) {
		return false
	}
	for ext := k.ext; ext <= p.ext; ext++ {
		ts, ok := d.track.cache.timestamp(ext)
		if !ok {
			continue // lost: the subscriber will NACK it
		}
		seq, outTS, ok := d.rw.rewrite(uint16(ext), ts, p.now)
		if ok && !d.q.push(queueEntry{ext: ext, seq: seq, tsDelta: ts - outTS}) {
			d.dropped.Add(1)
		}
	}
	return true
}

// notify wakes the consumer of the queue without blocking.
func (d *DownTrack) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// writeLoop sends queued packets to the subscriber until the DownTrack closes.
func (d *DownTrack) writeLoop() {
	for {
		select {
		case <-d.wake:
		case <-d.done:
			return
		}
		for d.writeNext() {
		}
	}
}

// writeNext sends the oldest queued packet, reporting false if the queue
// was empty.
func (d *DownTrack) writeNext() bool {
	d.mu.Lock()
	e, ok := d.q.pop()
	ws, ssrc, pt := d.ws, d.ssrc, d.pt
	d.mu.Unlock()
	if !ok {
		return false
	}
	n, meta, cached := d.track.cache.get(e.ext, d.buf)
	if ws == nil || !cached {
		d.dropped.Add(1)
		return true
	}
	d.hdr = rtp.Header{
		Version:        2,
		Padding:        meta.padding,
		Marker:         meta.marker,
		PayloadType:    pt,
		SequenceNumber: e.seq,
		Timestamp:      meta.ts - e.tsDelta,
		SSRC:           ssrc,
	}
	// Pion returns 0 bytes without an error while DTLS is not ready.
	if w, err := ws.WriteRTP(&d.hdr, d.buf[:n]); err != nil || w == 0 {
		d.dropped.Add(1)
		return true
	}
	d.packetsOut.Add(1)
	d.bytesOut.Add(uint64(rtpHeaderSize + n))
	return true
}

// close detaches the DownTrack from the network and stops its writer.
func (d *DownTrack) close() {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.bound, d.ws = false, nil
		d.mu.Unlock()
		close(d.done)
	})
}

// trackClosed is called by the Track when it closes.
func (d *DownTrack) trackClosed() {
	d.close()
	if d.onTrackClosed != nil {
		d.onTrackClosed()
	}
}
