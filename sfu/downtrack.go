package sfu

import (
	"errors"
	"fmt"
	"math"
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

// ErrCodecNotNegotiated is the error PeerConfig.OnSubscribeFailed reports
// for a DownTrack whose Track's codec the subscriber did not accept.
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
	// linkLayer, set by a LinkOut, makes the DownTrack a node link's
	// stream of one simulcast layer: 1 + the layer's index. 0: an
	// ordinary subscription.
	linkLayer uint8
}

// DownTrack is one subscriber's copy of a Track: a webrtc.TrackLocal of its
// own that rewrites SSRC, payload type, sequence numbers and timestamps, so
// the subscriber's stream stays continuous across pauses and mutes. Packets
// wait in a bounded queue. When the subscriber's transport is UDP, whose
// writes never block, the goroutine that queues them (the Track's reader)
// writes them at once, which saves a goroutine wake per frame and
// subscriber; otherwise (ICE-TCP) the DownTrack's own goroutine, started
// when first needed, writes them, so a slow subscriber delays no one else.
type DownTrack struct {
	track        *Track
	id, streamID string
	video        bool
	ready        *atomic.Bool // the subscriber's transport can carry media
	inline       *atomic.Bool // the subscriber's writes never block (see send); nil: false

	mu          sync.Mutex // guards the fields below
	rw          rewriter
	vp8         vp8Munger
	q           queue
	paused      bool
	nacks       nackLog
	bound       bool
	unsupported error // why Bind could not bind: the subscriber lacks the codec
	closed      bool
	ssrc        uint32
	pt          uint8
	ws          webrtc.TrackLocalWriter
	rtcpOut     rtcpWriter // where sender reports go; nil: none are sent
	levelExtID  uint8      // the subscriber's id of the audio level extension, 0 if none
	pin         int8       // the only layer forwarded, whatever the bandwidth (a node link); -1: any

	sel         layerSelector // guarded by mu
	bwe         bandwidthEstimate
	wanted      atomic.Int32  // the highest layer this subscriber would take (see wantedLayer); -1: none
	videoSubs   *atomic.Int32 // the subscriber's video DownTracks, which share its bandwidth; nil: one
	absExtID    uint8         // the subscriber's id of the abs-send-time extension, 0 if none
	probeRate   uint64        // bits/s of copies to send on top of the video (a bandwidth probe)
	probeCredit int64         // bits of copies due
	probeAt     int64         // when (ns) probeCredit was last increased

	wake      chan struct{} // a packet was queued (capacity 1)
	done      chan struct{} // closed by close
	closeOnce sync.Once
	writing   atomic.Bool // a goroutine is in drain, writing the queue

	// writers counts the writer goroutine, started at its first use (see
	// startWriter); nil: whoever made the DownTrack runs writeLoop.
	writers       *sync.WaitGroup
	writerStarted atomic.Bool

	// Used only by the goroutine in drain.
	buf       []byte
	hdr       rtp.Header
	exts      [2]rtp.Extension
	levelBuf  [1]byte
	absBuf    [3]byte
	srAt      int64  // when (ns) the last sender report was sent
	srPackets uint32 // RTP packets and payload octets sent, for sender reports
	srOctets  uint32

	// onQuality is called on the writer goroutine when the video goes off
	// because no layer fits the subscriber's bandwidth, or comes back.
	onQuality   func(videoOff bool)
	qualityWake chan struct{} // capacity 1: videoOff changed

	// onTrackClosed is set before the DownTrack is attached to its Track
	// and called once if the Track closes first.
	onTrackClosed func()
	// tally, if set before the DownTrack is attached to its Track, keeps
	// the engine's Totals, to which close adds the DownTrack's counters.
	tally *tally

	packetsOut    atomic.Uint64
	bytesOut      atomic.Uint64
	dropped       atomic.Uint64
	nacksReceived atomic.Uint64
	nacksHeld     atomic.Uint64 // of those, for packets the engine has: the subscriber's own loss
	nacksAnswered atomic.Uint64
	nacksSkipped  atomic.Uint64
	plisReceived  atomic.Uint64
	switches      atomic.Uint64
	congestions   atomic.Uint64
	rtt           atomic.Int64
	fractionLost  atomic.Uint32
	packetsLost   atomic.Uint64
}

func newDownTrack(t *Track, opts SubscribeOptions, ready, inline *atomic.Bool) *DownTrack {
	d := &DownTrack{
		track:       t,
		id:          opts.TrackID,
		streamID:    opts.StreamID,
		video:       t.kind == webrtc.RTPCodecTypeVideo,
		ready:       ready,
		inline:      inline,
		rw:          newRewriter(t.codec.ClockRate, uint16(rand.Uint32()), rand.Uint32()),
		paused:      opts.Paused,
		wake:        make(chan struct{}, 1),
		qualityWake: make(chan struct{}, 1),
		done:        make(chan struct{}),
		buf:         make([]byte, maxPayload),
		sel:         newLayerSelector(),
		bwe:         bandwidthEstimate{probe: -1, top: math.MaxInt8},
		pin:         int8(opts.linkLayer) - 1,
	}
	if d.id == "" {
		d.id = t.id
	}
	if d.streamID == "" {
		d.streamID = t.streamID
	}
	size := opts.QueueSize
	if size <= 0 {
		size = defaultAudioQueue
		if d.video {
			size = defaultVideoQueue
		}
	}
	d.q = newQueue(size)
	d.wanted.Store(math.MaxInt8) // every layer until it selects one
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
//
// When the subscriber did not accept the Track's codec, Bind does not fail:
// Pion would then stop starting the other tracks of the answer, and on a
// first answer the connection itself. It records the error (see
// codecError), returns a stand-in codec and stays unbound, sending nothing;
// the Peer removes the DownTrack once the answer is applied.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	negotiated := ctx.CodecParameters()
	codec, ok := matchCodec(d.track.codec.RTPCodecCapability, negotiated)
	if !ok {
		d.mu.Lock()
		d.unsupported = fmt.Errorf("%w: %s", ErrCodecNotNegotiated, d.track.codec.MimeType)
		d.mu.Unlock()
		if len(negotiated) > 0 {
			return negotiated[0], nil
		}
		return d.track.codec, nil
	}
	var levelID, absID uint8
	for _, ext := range ctx.HeaderExtensions() {
		switch {
		case ext.URI == AudioLevelURI && !d.video:
			levelID = uint8(ext.ID)
		case ext.URI == absSendTimeURI && d.video:
			absID = uint8(ext.ID)
		}
	}
	d.mu.Lock()
	d.ssrc, d.pt, d.ws = uint32(ctx.SSRC()), uint8(codec.PayloadType), ctx.WriteStream()
	d.levelExtID, d.absExtID = levelID, absID
	d.bound, d.unsupported = true, nil
	d.mu.Unlock()
	return codec, nil
}

// codecError returns why the last Bind could not bind the DownTrack (an
// ErrCodecNotNegotiated error), or nil.
func (d *DownTrack) codecError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.unsupported
}

// setRTCPWriter sets where the DownTrack sends its sender reports.
func (d *DownTrack) setRTCPWriter(w rtcpWriter) {
	d.mu.Lock()
	d.rtcpOut = w
	d.mu.Unlock()
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
		LayerSwitches:  d.switches.Load(),
		Congestions:    d.congestions.Load(),
		RTT:            time.Duration(d.rtt.Load()),
		FractionLost:   float64(d.fractionLost.Load()) / 256,
		PacketsLost:    d.packetsLost.Load(),
	}
}

// selectInterval is how often a DownTrack reconsiders which layer to forward.
const selectInterval = 200 * time.Millisecond

// forward rewrites one packet of the Track for this subscriber and queues
// it. It never blocks on the subscriber's transport. It reports the layer a
// keyframe should be requested on, if any: the subscriber waits for one to
// start or to switch layers and has not asked yet, or not for
// keyframeRetryInterval.
func (d *DownTrack) forward(p *forwardPacket) (want uint8, ask bool) {
	d.mu.Lock()
	if p.started || d.sel.due(p.now) {
		d.selectLayer(p.now)
	}
	if p.svc {
		return d.forwardSVC(p)
	}
	layer := int8(p.layer)
	on := d.bound && !d.paused && !p.muted && d.ready.Load()
	v, switched, from := d.sel.admit(layer, p.keyframe, on, d.bwe.shed, d.needsKeyframes())
	switch v {
	case verdictOff:
		if d.paused {
			d.wanted.Store(-1)
		}
		d.rw.gap()
		d.unlockAndFlush()
		return 0, false
	case verdictShed:
		d.rw.gap()
		d.vp8.skip(&p.vp8)
		want, ask = d.sel.waitKeyframe(p.now, true)
		d.unlockAndFlush()
		return want, ask
	case verdictCache:
		if d.startFromCache(p) {
			d.sel.started(layer)
			d.mu.Unlock()
			d.send()
			return 0, false
		}
		fallthrough
	case verdictWait:
		want, ask = d.sel.waitKeyframe(p.now, false)
		d.mu.Unlock()
		return want, ask
	}
	if switched {
		d.switchFrom(from, layer, p.now)
	}
	if p.padding || d.sel.skip(&p.vp8, p.keyframe) {
		d.rw.gap()
		d.vp8.skip(&p.vp8)
		d.mu.Unlock()
		return 0, false
	}
	d.sel.last = layer
	d.queuePacket(p, 0, p.marker)
	return 0, false
}

// forwardSVC is forward for a scalable VP9 track, whose one stream carries
// every layer (see admitSVC): packets of layers above those forwarded are
// left out of the output, which goes on without a gap in sequence numbers;
// and the last packet of the highest spatial layer forwarded in a picture
// gets the marker bit. The caller holds mu, which forwardSVC releases.
func (d *DownTrack) forwardSVC(p *forwardPacket) (want uint8, ask bool) {
	if p.padding || !p.vp9.layered {
		d.rw.gap()
		d.mu.Unlock()
		return 0, false
	}
	on := d.bound && !d.paused && !p.muted && d.ready.Load()
	from := d.sel.current
	v, top := d.sel.admitSVC(&p.vp9, p.ts, p.keyframe, on)
	if from >= 0 && d.sel.current >= 0 && d.sel.current != from {
		d.switches.Add(1)
	}
	if v != verdictForward {
		d.rw.gap()
	}
	switch v {
	case verdictOff:
		if d.paused {
			d.wanted.Store(-1)
		}
		d.unlockAndFlush()
		return 0, false
	case verdictWait:
		_, ask = d.sel.waitKeyframe(p.now, false)
		d.mu.Unlock()
		return 0, ask
	}
	// A higher spatial layer needs a keyframe.
	if d.sel.current < d.sel.target {
		_, ask = d.sel.waitKeyframe(p.now, false)
	}
	if v == verdictSkip {
		d.mu.Unlock()
		return 0, ask
	}
	d.bwe.shed = false // a lower layer takes effect at once
	d.sel.last = int8(p.layer)
	d.queuePacket(p, uint8(d.sel.current)+1, top)
	return 0, ask
}

// switchFrom makes the output continue from layer from (-1: none) on layer,
// whose keyframe starts it. The caller holds mu.
func (d *DownTrack) switchFrom(from, layer int8, now int64) {
	d.rw.gap()
	if from >= 0 && from != layer {
		d.switches.Add(1)
		d.rw.switchSource()
		d.vp8.switchSource()
	}
	if layer < from {
		// Signs of congestion may still come from the layer left.
		d.bwe.quietUntil = max(d.bwe.quietUntil, now+int64(quietAfterSwitch))
	}
	d.bwe.shed = false
}

// queuePacket rewrites p and queues it, with the copies of a bandwidth
// probe, then releases mu and wakes the writer at the end of a frame
// (marker). top is the queueEntry's.
func (d *DownTrack) queuePacket(p *forwardPacket, top uint8, marker bool) {
	seq, ts, ok := d.rw.rewrite(p.seq, p.ts, p.now)
	var picDelta uint16
	var tl0Delta uint8
	if ok && d.track.isVP8 {
		picDelta, tl0Delta = d.vp8.forward(&p.vp8)
	}
	e := queueEntry{ext: p.ext, seq: seq, tsDelta: p.ts - ts, layer: p.layer, picDelta: picDelta, tl0Delta: tl0Delta, top: top}
	queued := ok && d.q.push(e)
	if queued && d.probeRate > 0 {
		d.probeCopies(e, p.size, p.now)
	}
	// Video is written a frame at a time: the frame is of no use to the
	// subscriber before its last packet anyway, and one wake of the writer
	// per frame instead of per packet saves CPU and lets the socket send the
	// frame in one go (batchConn).
	wake := !d.video || marker || d.q.size >= min(frameWakeBatch, len(d.q.entries)/2)
	d.mu.Unlock()
	switch {
	case queued && wake:
		d.send()
	case !queued && ok:
		d.dropped.Add(1)
	}
}

// unlockAndFlush releases mu and has packets already queued written: the
// start of a frame cut short.
func (d *DownTrack) unlockAndFlush() {
	pending := d.q.size > 0
	d.mu.Unlock()
	if pending {
		d.send()
	}
}

// probeCopies queues copies of the packet just queued (e, of size bytes)
// to send the bits of probeRate due since the last packet. The subscriber
// drops them as duplicates; they only take bandwidth. The caller holds mu.
func (d *DownTrack) probeCopies(e queueEntry, size int, now int64) {
	if size <= 0 {
		return
	}
	d.probeCredit += int64(d.probeRate) * (now - d.probeAt) / int64(time.Second)
	d.probeAt = now
	d.probeCredit = min(d.probeCredit, int64(4*8*size)) // no bursts after a pause
	e.probe = true
	for d.probeCredit >= int64(8*size) && d.q.push(e) {
		d.probeCredit -= int64(8 * size)
	}
}

// needsKeyframes reports whether forwarding must start at a keyframe.
func (d *DownTrack) needsKeyframes() bool { return d.video && d.track.isKeyframe != nil }

// selectLayer picks the layer to forward: the highest one the publisher
// sends that is within the subscriber's preference and bandwidth (or being
// probed, see bwe.go); the lowest one sent if none is within the
// preference; none if even that does not fit the bandwidth (the video goes
// off for quality). The caller holds mu.
func (d *DownTrack) selectLayer(now int64) {
	s := &d.sel
	s.selectedAt, s.reselect = now, false
	if d.pin >= 0 { // a node link's stream: its layer, whatever the bandwidth
		s.target = d.pin
		d.wanted.Store(int32(d.pin))
		return
	}
	if !d.video {
		s.target = 0
		return
	}
	var buf [maxLayers]layerView
	views := d.track.views(now, &buf)
	spatial := s.spatialCap(views)
	lowest := lowestSent(views)
	if lowest < 0 { // nothing sent: keep the target until a layer comes
		return
	}
	layer := s.current
	if layer < 0 {
		layer = s.target
	}
	_, next := fitLayer(views, spatial, d.bwe.cap, d.bwe.top)
	capBPS, top, probe := d.bandwidthCap(now, views, layer, lowest, rateOf(views, layer), next)
	best, _ := fitLayer(views, spatial, capBPS, top)
	best = d.probeWith(now, views, best, probe)
	off := false
	switch {
	case best >= 0:
	case top < lowest || (capBPS != 0 && views[lowest].rate > capBPS):
		off = true
	default:
		best = lowest
	}
	if s.settle(views, best, off) {
		d.startWriterLocked() // it reports the change
		select {
		case d.qualityWake <- struct{}{}:
		default:
		}
	}
	d.wanted.Store(int32(wantedLayer(views, spatial, capBPS, top, max(best, probe))))
}

// probeWith sets the rate of the copies that probe layer probe (-1: none)
// while best is forwarded, and returns the layer to forward: best, or the
// probed layer itself when there is nothing to copy. The caller holds mu.
func (d *DownTrack) probeWith(now int64, views []layerView, best, probe int8) int8 {
	d.probeRate = 0
	if probe >= 0 {
		rate := rateOf(views, probe)
		switch {
		case rate == 0:
			d.bwe.probe = -1
		case best >= 0 && d.sel.current == best:
			// Probe with copies of the video up to the probed layer's
			// bitrate, staying on the layer that fits.
			// The copies ramp up over probeRamp, so that a link that
			// cannot carry them overflows slowly and is caught early.
			deficit := rate * 9 / 8
			if cur := rateOf(views, best); cur < deficit {
				deficit -= cur
			}
			elapsed := now - (d.bwe.probeUntil - int64(probeFor))
			d.probeRate = deficit * uint64(min(max(elapsed, int64(probeRamp)/8), int64(probeRamp))) / uint64(probeRamp)
			if d.probeAt == 0 {
				d.probeAt = now
			}
		default:
			best = probe // nothing to copy: try the layer itself
		}
	}
	if d.probeRate == 0 {
		d.probeAt, d.probeCredit = 0, 0
	}
	return best
}

// SetPreferredLayers caps the layers forwarded to this subscriber: spatial
// is the highest simulcast layer, or spatial layer of a VP9 SVC track (0
// the lowest), temporal the highest temporal layer of codecs that have
// them (VP8, VP9); -1 means no cap. The switch happens at the next keyframe
// of the new layer, which is requested; down a spatial layer of SVC, at the
// next picture.
func (d *DownTrack) SetPreferredLayers(spatial, temporal int) {
	d.mu.Lock()
	d.sel.maxSpatial, d.sel.maxTemporal = int8(max(spatial, -1)), int8(max(temporal, -1))
	d.sel.reselect = true
	d.mu.Unlock()
}

// SetPreferredVideo asks for the smallest layer at least width x height
// (0 x 0: the largest) and, with codecs that have temporal layers (VP8, VP9),
// the fewest temporal layers that give at least fps frames per second (0:
// all of them). Sizes come from the layers' keyframes; the highest layer is
// used when none is large enough or sizes are unknown.
func (d *DownTrack) SetPreferredVideo(width, height int, fps float64) {
	d.mu.Lock()
	d.sel.prefWidth, d.sel.prefHeight, d.sel.prefFPS = max(width, 0), max(height, 0), max(fps, 0)
	d.sel.reselect = true
	d.mu.Unlock()
}

// CurrentLayer returns the layer being forwarded (0 the lowest), or -1 if
// none is.
func (d *DownTrack) CurrentLayer() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(d.sel.current)
}

// TargetLayer returns the layer the DownTrack forwards or switches to, or
// -1 if none fits (see VideoOff).
func (d *DownTrack) TargetLayer() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(d.sel.target)
}

// VideoOff reports whether the video is off because not even the lowest
// layer fits the subscriber's bandwidth.
func (d *DownTrack) VideoOff() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sel.videoOff
}

// OnQualityChange sets the function called, on the DownTrack's own
// goroutine, when its video goes off because not even the lowest layer fits
// the subscriber's bandwidth (true) and when it comes back (false).
func (d *DownTrack) OnQualityChange(f func(videoOff bool)) {
	d.mu.Lock()
	d.onQuality = f
	d.mu.Unlock()
}

// frameWakeBatch is how many video packets may wait for the end of their
// frame (the RTP marker bit) before the writer is woken all the same: a
// large frame, or a lost last packet.
const frameWakeBatch = 16

// startFromCache queues the latest keyframe of the packet's layer and every
// packet since, from the layer's cache, if that keyframe is recent (no older than
// keyframeRequestInterval, so no sooner than a new one could be had) and the
// packets fit in half the queue: a subscriber that joins or resumes then
// starts at once instead of waiting for a new keyframe. It reports whether
// it did. The caller holds d.mu.
func (d *DownTrack) startFromCache(p *forwardPacket) bool {
	k := p.lastKeyframe
	l := d.track.layer(p.layer)
	if l == nil || k.ext == 0 || k.ext > p.ext || p.now-k.at > int64(keyframeRequestInterval) ||
		p.ext-k.ext >= uint64(len(d.q.entries)/2) || !l.cache.contains(k.ext) {
		return false
	}
	for ext := k.ext; ext <= p.ext; ext++ {
		ts, ok := l.cache.timestamp(ext)
		if !ok {
			continue // lost: the subscriber will NACK it
		}
		seq, outTS, ok := d.rw.rewrite(uint16(ext), ts, p.now)
		e := queueEntry{ext: ext, seq: seq, tsDelta: ts - outTS, layer: p.layer, picDelta: d.vp8.picDelta, tl0Delta: d.vp8.tl0Delta}
		if ok && !d.q.push(e) {
			d.dropped.Add(1)
		}
	}
	return true
}

// send has the queued packets written: at once on the calling goroutine
// when the subscriber's writes never block, by the DownTrack's writer
// goroutine otherwise.
func (d *DownTrack) send() {
	if d.inline != nil && d.inline.Load() {
		d.drain()
		return
	}
	d.startWriter()
	d.notify()
}

// startWriter starts the writer goroutine unless it runs already. A
// subscriber on UDP, written on the forwarding goroutine, never needs one
// unless its video goes off for quality.
func (d *DownTrack) startWriter() {
	if d.writers == nil || d.writerStarted.Load() {
		return
	}
	d.mu.Lock()
	d.startWriterLocked()
	d.mu.Unlock()
}

// startWriterLocked is startWriter with mu held.
func (d *DownTrack) startWriterLocked() {
	if d.writers == nil || d.closed || d.writerStarted.Load() {
		return
	}
	d.writerStarted.Store(true)
	d.writers.Add(1)
	go func() {
		defer d.writers.Done()
		d.writeLoop()
	}()
}

// notify wakes the consumer of the queue without blocking.
func (d *DownTrack) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// writeLoop sends queued packets to the subscriber until the DownTrack
// closes, and reports quality changes.
func (d *DownTrack) writeLoop() {
	for {
		select {
		case <-d.wake:
		case <-d.qualityWake:
			d.mu.Lock()
			f, off := d.onQuality, d.sel.videoOff
			d.mu.Unlock()
			if f != nil {
				f(off)
			}
			continue
		case <-d.done:
			return
		}
		d.drain()
	}
}

// drain writes the queued packets on the calling goroutine, unless another
// goroutine is already writing them.
func (d *DownTrack) drain() {
	for d.writing.CompareAndSwap(false, true) {
		for d.writeNext() {
		}
		d.writing.Store(false)
		d.mu.Lock()
		more := d.q.size > 0
		d.mu.Unlock()
		if !more {
			return
		}
	}
}

// writeNext sends the oldest queued packet, reporting false if the queue
// was empty.
func (d *DownTrack) writeNext() bool {
	d.mu.Lock()
	e, ok := d.q.pop()
	ws, rtcpOut, ssrc, pt, levelID, absID := d.ws, d.rtcpOut, d.ssrc, d.pt, d.levelExtID, d.absExtID
	d.mu.Unlock()
	if !ok {
		return false
	}
	n, meta, cached := d.payload(e, d.buf)
	if ws == nil || !cached {
		d.dropped.Add(1)
		return true
	}
	d.hdr = rtp.Header{
		Version:        2,
		Padding:        meta.padding,
		Marker:         meta.marker || (e.top != 0 && meta.frameEnd == e.top),
		PayloadType:    pt,
		SequenceNumber: e.seq,
		Timestamp:      meta.ts - e.tsDelta,
		SSRC:           ssrc,
	}
	d.hdr.Extensions = d.exts[:0] // preallocated: no allocation
	if levelID != 0 && meta.hasLevel {
		d.levelBuf[0] = meta.level
		_ = d.hdr.SetExtension(levelID, d.levelBuf[:])
	}
	now := time.Now()
	if absID != 0 {
		t := absSendTime(now.UnixNano())
		d.absBuf = [3]byte{byte(t >> 16), byte(t >> 8), byte(t)}
		_ = d.hdr.SetExtension(absID, d.absBuf[:])
	}
	// Pion returns 0 bytes without an error while DTLS is not ready.
	if w, err := ws.WriteRTP(&d.hdr, d.buf[:n]); err != nil || w == 0 {
		d.dropped.Add(1)
		return true
	}
	if !e.probe {
		d.packetsOut.Add(1)
	}
	d.bytesOut.Add(uint64(rtpHeaderSize + n))
	d.srPackets++
	d.srOctets += uint32(n)
	if meta.padding {
		d.srOctets -= uint32(d.buf[n-1])
	}
	if rtcpOut != nil && now.UnixNano()-d.srAt >= int64(senderReportInterval) {
		d.sendSenderReport(rtcpOut, ssrc, now, d.hdr.Timestamp)
	}
	return true
}

// payload copies the payload of a queued packet out of its layer's cache
// into dst (at least maxPayload bytes), rewriting its VP8 descriptor.
func (d *DownTrack) payload(e queueEntry, dst []byte) (n int, meta packetMeta, ok bool) {
	l := d.track.layer(e.layer)
	if l == nil {
		return 0, packetMeta{}, false
	}
	n, meta, ok = l.cache.get(e.ext, dst)
	if ok && (e.picDelta != 0 || e.tl0Delta != 0) {
		if desc, parsed := parseVP8(dst[:n]); parsed {
			rewriteVP8(dst[:n], &desc, e.picDelta, e.tl0Delta)
		}
	}
	return n, meta, ok
}

// close detaches the DownTrack from the network and stops its writer.
func (d *DownTrack) close() {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.bound, d.ws = false, nil
		d.mu.Unlock()
		close(d.done)
		if d.tally != nil {
			d.tally.closedNow(d)
		}
	})
}

// trackClosed is called by the Track when it closes.
func (d *DownTrack) trackClosed() {
	d.close()
	if d.onTrackClosed != nil {
		d.onTrackClosed()
	}
}
