package sfu

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

const (
	// keyframeRequestInterval is the minimum time between two keyframe
	// requests sent to a publisher; requests in between are merged into
	// one sent when the interval is over.
	keyframeRequestInterval = 500 * time.Millisecond
	// keyframeRetryInterval is how often a subscriber still waiting for a
	// keyframe asks again.
	keyframeRetryInterval = time.Second

	videoCacheSize = 512 // packets kept per video Track for retransmissions
	audioCacheSize = 128 // packets kept per audio Track

	// maxPacket is the size of the buffers raw RTP packets are read into.
	maxPacket = maxPayload + 100
)

var (
	// ErrTrackClosed is returned when writing to, subscribing to or reading
	// from a closed Track.
	ErrTrackClosed = errors.New("sfu: track closed")
	// ErrRemoteTrack is returned by WriteRTP on a Track fed by a remote peer.
	ErrRemoteTrack = errors.New("sfu: track is fed by a remote peer")
)

// Track is one published RTP source, audio or video, fed either by a remote
// WebRTC publisher or from Go (NewLocalTrack). It forwards every packet to
// its DownTracks and Readers and keeps recent packets for retransmissions.
//
// A simulcast track has several layers, one Track each: the first layer to
// arrive is the Track subscribers see (the group), the others are attached
// to it. Every layer keeps its own cache, counters and keyframe requests;
// the group's DownTracks each forward one layer at a time.
type Track struct {
	id, streamID, mid string
	kind              webrtc.RTPCodecType
	codec             webrtc.RTPCodecParameters
	remote            bool
	isKeyframe        func([]byte) bool // nil for codecs without keyframes
	isVP8             bool
	svc               *spatialLayers // the spatial layers of a VP9 track; nil for other codecs
	cache             *packetCache

	group    *Track                   // the Track subscribers see: itself, or the simulcast group
	index    uint8                    // layer index in the group, 0 the lowest
	rid      string                   // simulcast RID, empty for a single-layer track
	layers   atomic.Pointer[[]*Track] // the group's layers by index, nil where not (yet) arrived
	demandAt atomic.Int64             // the group's last look at which layers subscribers want (ns)

	lastPacket atomic.Int64  // when (ns) the last packet arrived
	frameRate  rateMeter     // thousandths of a frame per second
	lastTS     uint32        // timestamp of the last packet, under ingestMu
	maxTID     atomic.Uint32 // highest VP8 or VP9 temporal layer seen
	width      atomic.Uint32 // frame size of the last VP8 keyframe or VP9 scalability structure, 0 if unknown
	height     atomic.Uint32
	level      audioLevel // audio level from the RFC 6464 header extension
	levelExtID uint8      // negotiated id of the audio level extension, 0 if none

	// Ingest state, guarded by ingestMu: one packet at a time.
	ingestMu sync.Mutex
	hdr      rtp.Header
	raw      []byte       // marshal buffer of local tracks
	baseExt  uint64       // lowest extended sequence number seen
	highest  uint64       // highest extended sequence number seen
	meter    rateMeter    // bits per second
	keyframe keyframeMark // the latest keyframe

	downTracks atomic.Pointer[[]*DownTrack] // copy on write
	muted      atomic.Bool
	isClosed   atomic.Bool

	mu                  sync.Mutex // guards the fields below and changes of downTracks
	closed              bool
	onClose             []func()
	requestKeyframeFn   func()
	lastKeyframeRequest time.Time
	layersOn            uint8                  // the group's layers the publisher is asked to send (bit i)
	wantedAt            [8]int64               // when (ns) a subscriber last wanted each layer
	onLayers            func([]string, []bool) // told when layersOn changes
	keyframeTimer       *time.Timer            // a merged request waiting for the throttle

	packetsIn atomic.Uint64
	bytesIn   atomic.Uint64
	expected  atomic.Uint64
	nacksSent atomic.Uint64
	plisSent  atomic.Uint64
}

func newTrack(id, streamID string, codec webrtc.RTPCodecParameters, kind webrtc.RTPCodecType) *Track {
	size := videoCacheSize
	if kind == webrtc.RTPCodecTypeAudio {
		size = audioCacheSize
	}
	t := &Track{
		id:         id,
		streamID:   streamID,
		kind:       kind,
		codec:      codec,
		isKeyframe: keyframeDetector(codec.MimeType),
		isVP8:      strings.EqualFold(codec.MimeType, webrtc.MimeTypeVP8),
		cache:      newPacketCache(size),
	}
	if strings.EqualFold(codec.MimeType, webrtc.MimeTypeVP9) {
		t.svc = new(spatialLayers)
	}
	t.group = t
	t.layers.Store(&[]*Track{t})
	t.downTracks.Store(new([]*DownTrack))
	return t
}

// NewLocalTrack returns a Track published from Go: feed it with WriteRTP.
// The codec's MIME type decides its kind ("audio/..." or "video/...").
// Keyframe requests from subscribers are passed to the function set with
// OnKeyframeRequest.
func NewLocalTrack(id string, codec webrtc.RTPCodecCapability) *Track {
	kind := webrtc.RTPCodecTypeVideo
	if len(codec.MimeType) >= 6 && codec.MimeType[:6] == "audio/" {
		kind = webrtc.RTPCodecTypeAudio
	}
	t := newTrack(id, id, webrtc.RTPCodecParameters{RTPCodecCapability: codec}, kind)
	t.raw = make([]byte, maxPacket)
	return t
}

// newRemoteTrack returns a Track fed by a publisher's TrackRemote;
// requestKeyframe sends a PLI to the publisher. levelExtID is the
// negotiated id of the audio level header extension (0: none).
func newRemoteTrack(r *webrtc.TrackRemote, mid string, levelExtID uint8, requestKeyframe func()) *Track {
	t := newTrack(r.ID(), r.StreamID(), r.Codec(), r.Kind())
	t.mid = mid
	t.remote = true
	t.rid = r.RID()
	t.requestKeyframeFn = requestKeyframe
	if t.kind == webrtc.RTPCodecTypeAudio {
		t.levelExtID = levelExtID
	}
	return t
}

// makeGroup makes t, a first simulcast layer to arrive, the group of
// a track with n layers, at index i.
func (t *Track) makeGroup(n, i int) {
	layers := make([]*Track, n)
	layers[i] = t
	t.index = uint8(i)
	t.layers.Store(&layers)
	now := time.Now().UnixNano()
	t.layersOn = uint8(1<<n - 1)
	for j := range n {
		t.wantedAt[j] = now
	}
}

// layerIdleAfter is how long no subscriber must want a simulcast layer
// before its publisher is asked to pause it.
const layerIdleAfter = 3 * time.Second

// demandInterval is how often a simulcast group looks at which layers its
// subscribers want.
const demandInterval = 500 * time.Millisecond

// OnLayerDemand sets the function told, with one entry per layer (lowest
// first: its RID, empty if it has not arrived, and whether it is wanted),
// which simulcast layers subscribers want: a layer nobody has wanted for
// 3 s is not (its publisher may pause it), and is again as soon as someone
// wants it. The lowest layer is always wanted. It is called on a goroutine
// that forwards media and must not block.
func (t *Track) OnLayerDemand(f func(rids []string, active []bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onLayers = f
}

// updateDemand works out which of the group's layers subscribers want, and
// tells the OnLayerDemand function of changes.
func (t *Track) updateDemand(now int64) {
	layers := *t.layers.Load()
	if len(layers) < 2 {
		return
	}
	want := uint8(1)
	for _, d := range *t.downTracks.Load() {
		if w := d.wanted.Load(); w >= 0 {
			want |= 1 << min(w, int32(len(layers)-1))
		}
	}
	t.mu.Lock()
	on := uint8(1)
	for i := 1; i < len(layers); i++ {
		if want&(1<<i) != 0 {
			t.wantedAt[i] = now
		}
		if now-t.wantedAt[i] < int64(layerIdleAfter) {
			on |= 1 << i
		}
	}
	f := t.onLayers
	changed := on != t.layersOn && !t.closed
	t.layersOn = on
	t.mu.Unlock()
	if changed && f != nil {
		rids, active := make([]string, len(layers)), make([]bool, len(layers))
		for i, l := range layers {
			if l != nil {
				rids[i] = l.rid
			}
			active[i] = on&(1<<i) != 0
		}
		f(rids, active)
	}
}

// addLayer attaches layer l, at index i, to the group t. It reports false
// if the group is closed or the index is taken.
func (t *Track) addLayer(l *Track, i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.layers.Load()
	if t.closed || i >= len(old) || old[i] != nil {
		return false
	}
	layers := append([]*Track(nil), old...)
	l.group, l.index = t, uint8(i)
	layers[i] = l
	t.layers.Store(&layers)
	return true
}

// removeLayer detaches a layer that ended from its group.
func (t *Track) removeLayer(l *Track) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.layers.Load()
	layers := append([]*Track(nil), old...)
	for i, x := range layers {
		if x == l {
			layers[i] = nil
		}
	}
	t.layers.Store(&layers)
}

// layer returns the group's layer i, or nil.
func (t *Track) layer(i uint8) *Track {
	layers := *t.layers.Load()
	if int(i) >= len(layers) {
		return nil
	}
	return layers[i]
}

// LayerInfo describes one layer of a Track.
type LayerInfo struct {
	RID            string  // simulcast RID; empty for a single-layer track
	Width, Height  int     // from the last VP8 keyframe or VP9 scalability structure; 0 if unknown
	Bitrate        uint64  // bits per second received
	FrameRate      float64 // frames per second received
	TemporalLayers int     // VP8 temporal layers seen; 1 without any
	Active         bool    // packets arrived within the last second
}

// Layers describes the Track's layers, lowest first: one for an ordinary
// track, one per simulcast layer (nil-free: layers that have not arrived
// are left out), one per spatial layer of a scalable VP9 track (SVC; the
// bitrate is the layer's own, the frame rate the whole stream's).
func (t *Track) Layers() []LayerInfo {
	now := time.Now().UnixNano()
	if t.scalable() {
		return t.svc.info(now, int(t.maxTID.Load())+1, t.frameRate.frameRate(now))
	}
	var out []LayerInfo
	for _, l := range *t.layers.Load() {
		if l == nil {
			continue
		}
		out = append(out, LayerInfo{
			RID:            l.rid,
			Width:          int(l.width.Load()),
			Height:         int(l.height.Load()),
			Bitrate:        l.meter.perSecond(now),
			FrameRate:      l.frameRate.frameRate(now),
			TemporalLayers: int(l.maxTID.Load()) + 1,
			Active:         l.active(now),
		})
	}
	return out
}

// scalable reports whether the Track is a scalable VP9 stream (SVC): one
// encoding, of more than one spatial layer.
func (t *Track) scalable() bool {
	return t.svc.scalable() && len(*t.layers.Load()) == 1
}

// views snapshots into buf the layers a subscriber chooses from: the
// spatial layers of a scalable track, else the group's layers.
func (t *Track) views(now int64, buf *[maxLayers]layerView) []layerView {
	if t.scalable() {
		return t.svc.view(now, int8(t.maxTID.Load()), t.frameRate.frameRate(now), buf)
	}
	return viewLayers(*t.layers.Load(), now, buf)
}

// layerActiveWindow is how long after its last packet a layer counts as
// sent by the publisher.
const layerActiveWindow = time.Second

// active reports whether the layer received a packet within layerActiveWindow.
func (t *Track) active(now int64) bool {
	last := t.lastPacket.Load()
	return last != 0 && now-last < int64(layerActiveWindow)
}

// ID returns the track id (the publisher's MediaStreamTrack id for remote tracks).
func (t *Track) ID() string { return t.id }

// StreamID returns the publisher's stream id (msid) of a remote track, or
// the id of a local one.
func (t *Track) StreamID() string { return t.streamID }

// Mid returns the media id of the publishing transceiver; empty for local tracks.
func (t *Track) Mid() string { return t.mid }

// Kind returns whether this is an audio or a video track.
func (t *Track) Kind() webrtc.RTPCodecType { return t.kind }

// Codec returns the codec the publisher sends; the payload type is the
// publisher's (zero for local tracks).
func (t *Track) Codec() webrtc.RTPCodecParameters { return t.codec }

// Stats returns a snapshot of the Track's counters, summed over its layers.
func (t *Track) Stats() TrackStats {
	var st TrackStats
	for _, l := range *t.layers.Load() {
		if l == nil {
			continue
		}
		ls := l.layerStats()
		st.PacketsIn += ls.PacketsIn
		st.BytesIn += ls.BytesIn
		st.PacketsLost += ls.PacketsLost
		st.NACKsSent += ls.NACKsSent
		st.PLIsSent += ls.PLIsSent
		st.Bitrate += ls.Bitrate
	}
	return st
}

// layerStats returns the counters of one layer. It reads the packets
// expected before those received, which ingest counts in the other order,
// so that a packet being received is not taken for lost.
func (t *Track) layerStats() TrackStats {
	exp := t.expected.Load()
	in := t.packetsIn.Load()
	var lost uint64
	if exp > in {
		lost = exp - in
	}
	return TrackStats{
		PacketsIn:   in,
		BytesIn:     t.bytesIn.Load(),
		PacketsLost: lost,
		NACKsSent:   t.nacksSent.Load(),
		PLIsSent:    t.plisSent.Load(),
		Bitrate:     t.meter.perSecond(time.Now().UnixNano()),
	}
}

// WriteRTP publishes a packet on a local Track. The packet is copied; the
// caller may reuse it. It is safe for concurrent use.
func (t *Track) WriteRTP(p *rtp.Packet) error {
	if t.remote {
		return ErrRemoteTrack
	}
	t.ingestMu.Lock()
	if t.isClosed.Load() {
		t.ingestMu.Unlock()
		return ErrTrackClosed
	}
	n, err := p.MarshalTo(t.raw)
	if err != nil {
		t.ingestMu.Unlock()
		return fmt.Errorf("sfu: marshal RTP packet for track %q: %w", t.id, err)
	}
	wantKeyframes := t.ingest(t.raw[:n], time.Now().UnixNano())
	t.ingestMu.Unlock()
	t.group.requestLayerKeyframes(wantKeyframes)
	return nil
}

// batcher batches the writes of one packet's forwarding, or of a tick
// (Engine.holdWrites and releaseWrites).
type batcher interface {
	holdWrites()
	releaseWrites()
}

// readLoop feeds the Track from a remote track until it ends, batching
// each packet's copies with b.
func (t *Track) readLoop(r *webrtc.TrackRemote, b batcher) {
	buf := make([]byte, maxPacket)
	for {
		n, _, err := r.Read(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		b.holdWrites()
		t.ingestMu.Lock()
		wantKeyframes := t.ingest(buf[:n], now)
		t.ingestMu.Unlock()
		b.releaseWrites()
		t.group.requestLayerKeyframes(wantKeyframes)
		if g := t.group; len(*g.layers.Load()) > 1 {
			if last := g.demandAt.Load(); now-last >= int64(demandInterval) && g.demandAt.CompareAndSwap(last, now) {
				g.updateDemand(now)
			}
		}
	}
}

// forwardPacket is what a Track tells its DownTracks about a packet.
type forwardPacket struct {
	ext      uint64
	seq      uint16
	ts       uint32
	layer    uint8
	started  bool // the layer's first packet after a silence: layers to choose from changed
	padding  bool // padding only: not forwarded
	size     int  // bytes of the packet
	keyframe bool
	marker   bool // the last packet of a video frame
	muted    bool
	now      int64
	vp8      vp8Descriptor // parsed for VP8 tracks
	vp9      vp9Descriptor // parsed for VP9 tracks
	svc      bool          // of a scalable VP9 track: see forwardSVC
	// lastKeyframe is the layer's latest keyframe, from which a new
	// subscriber may start (DownTrack.startFromCache).
	lastKeyframe keyframeMark
}

// keyframeMark tells where a Track's latest keyframe starts.
type keyframeMark struct {
	ext uint64 // extended sequence number of its first packet; 0 for none
	ts  uint32 // its RTP timestamp
	at  int64  // when (ns) it arrived
}

// noteKeyframe records a packet that starts a keyframe, unless it belongs
// to the keyframe already recorded: then the earliest packet is kept (an
// H.264 keyframe may start with parameter sets before its IDR slice). The
// caller holds ingestMu.
func (t *Track) noteKeyframe(ext uint64, ts uint32, now int64) {
	k := &t.keyframe
	if k.ext == 0 || (ts != k.ts && ext > k.ext) || (ts == k.ts && ext < k.ext) {
		*k = keyframeMark{ext: ext, ts: ts, at: now}
	}
}

// ingest stores one raw RTP packet and forwards it to the group's
// DownTracks. It returns the set of layers (bit i: layer i) a subscriber
// waits for a keyframe of that should be requested; the caller holds
// ingestMu and requests them after releasing ingestMu.
func (t *Track) ingest(raw []byte, now int64) (wantKeyframes uint8) {
	hl, err := t.hdr.Unmarshal(raw)
	if err != nil {
		return 0
	}
	payload := raw[hl:]
	media := payload
	if t.hdr.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			return 0
		}
		media = payload[:len(payload)-int(payload[len(payload)-1])]
	}
	ext := t.extend(t.hdr.SequenceNumber)
	meta := packetMeta{ts: t.hdr.Timestamp, payloadType: t.hdr.PayloadType, marker: t.hdr.Marker, padding: t.hdr.Padding}
	var vp9 vp9Descriptor
	var ss vp9Structure
	if t.svc != nil && len(media) > 0 {
		if vp9, ss, _ = t.svc.parser.parse(media); vp9.layered && vp9.end {
			meta.frameEnd = vp9.sid + 1
		}
	}
	if t.levelExtID != 0 {
		if v := t.hdr.GetExtension(t.levelExtID); len(v) > 0 {
			meta.level, meta.hasLevel = v[0], true
			t.level.add(v[0]&0x7f, now)
		}
	}
	if !t.cache.put(ext, payload, meta) {
		t.expected.Store(t.highest - t.baseExt + 1)
		return 0
	}
	t.packetsIn.Add(1)
	t.expected.Store(t.highest - t.baseExt + 1) // after packetsIn: see layerStats
	t.bytesIn.Add(uint64(len(raw)))
	t.meter.add(8*uint64(len(raw)), now)
	// Padding-only packets (bandwidth probes, sent even on layers that carry
	// no video yet) neither make a layer active nor reach subscribers.
	padOnly := len(media) == 0
	started := !padOnly && !t.active(now)
	if !padOnly {
		t.lastPacket.Store(now)
	}

	p := forwardPacket{
		ext:      ext,
		seq:      t.hdr.SequenceNumber,
		ts:       t.hdr.Timestamp,
		layer:    t.index,
		started:  started,
		padding:  padOnly,
		size:     len(raw),
		keyframe: t.isKeyframe == nil || t.isKeyframe(media),
		marker:   t.hdr.Marker,
		muted:    t.group.muted.Load(),
		now:      now,
	}
	// A layer back after a silence (its publisher's path was lost, say)
	// lost frames its subscribers' decoders need: a keyframe is asked for
	// now, not when they give up on the missing ones (seconds).
	if started && !p.keyframe && len(*t.group.downTracks.Load()) > 0 {
		wantKeyframes = 1 << t.index
	}
	switch {
	case p.muted:
		t.keyframe = keyframeMark{} // what was muted is never forwarded
	case p.keyframe && t.isKeyframe != nil && !padOnly:
		t.noteKeyframe(ext, p.ts, now)
	}
	p.lastKeyframe = t.keyframe
	if t.svc != nil && !padOnly {
		p.vp9 = vp9
		if t.svc.add(&vp9, &ss, len(raw), now) && t.scalable() {
			p.started = true
		}
		if uint32(vp9.tid) > t.maxTID.Load() {
			t.maxTID.Store(uint32(vp9.tid))
		}
		if n := len(ss.widths); n > 0 { // the size of a simulcast layer
			t.width.Store(uint32(ss.widths[n-1]))
			t.height.Store(uint32(ss.heights[n-1]))
		}
		p.svc = t.scalable()
	}
	if !padOnly && (p.ts != t.lastTS || t.packetsIn.Load() == 1) {
		t.lastTS = p.ts
		t.frameRate.add(1000, now)
	}
	if t.isVP8 && len(media) > 0 {
		p.vp8, _ = parseVP8(media)
		if p.vp8.hasTID && uint32(p.vp8.tid) > t.maxTID.Load() {
			t.maxTID.Store(uint32(p.vp8.tid))
		}
		if p.keyframe {
			if w, h, ok := vp8KeyframeSize(media); ok {
				t.width.Store(uint32(w))
				t.height.Store(uint32(h))
			}
		}
	}
	for _, d := range *t.group.downTracks.Load() {
		if want, ok := d.forward(&p); ok {
			wantKeyframes |= 1 << want
		}
	}
	return wantKeyframes
}

// requestLayerKeyframes asks for keyframes on the group's layers in set
// (bit i: layer i).
func (t *Track) requestLayerKeyframes(set uint8) {
	for i := uint8(0); set != 0; i++ {
		if set&1 != 0 {
			if l := t.layer(i); l != nil {
				l.RequestKeyframe()
			}
		}
		set >>= 1
	}
}

// extend returns the extended sequence number of seq and updates the
// range of those seen. The caller holds ingestMu.
func (t *Track) extend(seq uint16) uint64 {
	if t.highest == 0 {
		t.highest = 1<<16 + uint64(seq)
		t.baseExt = t.highest
		return t.highest
	}
	ext := unwrapSeq(t.highest, seq)
	if ext > t.highest {
		t.highest = ext
	}
	if ext < t.baseExt {
		t.baseExt = ext
	}
	return ext
}

// SetMuted stops (true) or resumes (false) forwarding to every subscriber.
// Subscribers' streams stay continuous; resuming a video track waits for, and
// requests, a keyframe.
func (t *Track) SetMuted(muted bool) { t.muted.Store(muted) }

// Muted reports whether the Track is muted with SetMuted.
func (t *Track) Muted() bool { return t.muted.Load() }

// RequestKeyframe asks the publisher of a video track for a keyframe (a PLI
// for remote tracks, the OnKeyframeRequest function for local ones) on this
// layer. At most one request is sent per 500 ms: requests within that time
// are merged into one sent when it is over.
func (t *Track) RequestKeyframe() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	t.mu.Lock()
	if t.closed || t.requestKeyframeFn == nil {
		t.mu.Unlock()
		return
	}
	now := time.Now()
	if wait := t.lastKeyframeRequest.Add(keyframeRequestInterval).Sub(now); wait > 0 {
		if t.keyframeTimer == nil {
			t.keyframeTimer = time.AfterFunc(wait, t.sendMergedKeyframeRequest)
		}
		t.mu.Unlock()
		return
	}
	t.lastKeyframeRequest = now
	send := t.requestKeyframeFn
	t.mu.Unlock()
	t.plisSent.Add(1)
	send()
}

// sendMergedKeyframeRequest sends the requests merged during the throttle.
func (t *Track) sendMergedKeyframeRequest() {
	t.mu.Lock()
	t.keyframeTimer = nil
	t.mu.Unlock()
	t.RequestKeyframe()
}

// OnKeyframeRequest sets the function a local Track calls when a subscriber
// needs a keyframe (already throttled). It is called on the goroutine that
// caused the request (never inside WriteRTP's critical section, so it may
// write the keyframe at once) and must not block.
func (t *Track) OnKeyframeRequest(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.remote {
		t.requestKeyframeFn = f
	}
}

// OnClose registers f to be called once when the Track closes (when its
// publisher stops sending it, its Peer closes, or Close is called), on the
// goroutine that closes it; f must not block. If the Track is already
// closed, f is called at once.
func (t *Track) OnClose(f func()) {
	t.mu.Lock()
	if !t.closed {
		t.onClose = append(t.onClose, f)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	f()
}

// Close stops forwarding the Track: every DownTrack is removed from its
// subscriber (which renegotiates) and every Reader ends. A remote
// publisher's packets are discarded until it renegotiates the track away
// or its Peer closes.
func (t *Track) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.isClosed.Store(true)
	if t.keyframeTimer != nil {
		t.keyframeTimer.Stop()
		t.keyframeTimer = nil
	}
	downTracks := *t.downTracks.Swap(new([]*DownTrack))
	callbacks := t.onClose
	t.onClose = nil
	layers := *t.layers.Load()
	t.mu.Unlock()

	for _, d := range downTracks {
		d.trackClosed()
	}
	for _, l := range layers {
		if l != nil && l != t {
			l.Close()
		}
	}
	for _, f := range callbacks {
		f()
	}
}

func (t *Track) addDownTrack(d *DownTrack) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTrackClosed
	}
	old := *t.downTracks.Load()
	list := make([]*DownTrack, len(old), len(old)+1)
	copy(list, old)
	list = append(list, d)
	t.downTracks.Store(&list)
	return nil
}

func (t *Track) removeDownTrack(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downTracks.Load()
	list := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			list = append(list, x)
		}
	}
	t.downTracks.Store(&list)
}
