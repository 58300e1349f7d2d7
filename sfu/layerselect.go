package sfu

// Layer selection: which simulcast layer, and which VP8 temporal layers, one
// subscriber's video gets, and at which packets forwarding may start or
// switch. It is pure: a layerSelector decides over a snapshot of the
// Track's layers (layerView) and the packets shown to it, and the DownTrack
// that holds it, under its mutex, acts on its verdicts (rewriting,
// requesting keyframes, bandwidth estimation).

// maxLayers bounds a Track's simulcast layers (layer sets are 8-bit masks).
const maxLayers = 8

// layerView is what selection needs to know of one layer at a moment.
type layerView struct {
	present  bool   // the layer exists: packets came at some point
	sent     bool   // packets came within layerActiveWindow
	rate     uint64 // bits/s now; 0 when not sent
	lastRate uint64 // the last bitrate measured, also while the layer is paused
	width    int    // size of its last keyframe; 0: unknown
	height   int
	maxTID   int8    // highest VP8 temporal layer seen
	fps      float64 // frames per second, all temporal layers
}

// viewLayers snapshots the layers of a group into buf.
func viewLayers(layers []*Track, now int64, buf *[maxLayers]layerView) []layerView {
	views := buf[:min(len(layers), maxLayers)]
	for i := range views {
		l := layers[i]
		if l == nil {
			views[i] = layerView{}
			continue
		}
		v := layerView{
			present:  true,
			sent:     l.active(now),
			lastRate: l.meter.rate.Load(),
			width:    int(l.width.Load()),
			height:   int(l.height.Load()),
			maxTID:   int8(l.maxTID.Load()),
			fps:      l.frameRate.frameRate(now),
		}
		if v.sent {
			v.rate = l.meter.perSecond(now)
		}
		views[i] = v
	}
	return views
}

// rateOf returns the bitrate of layer i, 0 if it is not sent.
func rateOf(views []layerView, i int8) uint64 {
	if i < 0 || int(i) >= len(views) {
		return 0
	}
	return views[i].rate
}

// lowestSent returns the lowest layer sent, or -1.
func lowestSent(views []layerView) int8 {
	for i, v := range views {
		if v.sent {
			return int8(i)
		}
	}
	return -1
}

// fitLayer returns the highest sent layer within the spatial cap (-1:
// none) and top whose bitrate is within capBPS (0: any), or -1; and the
// lowest sent layer above it within the spatial cap, or -1.
func fitLayer(views []layerView, spatial int8, capBPS uint64, top int8) (best, next int8) {
	best, next = -1, -1
	for i, v := range views {
		if !v.sent || (spatial >= 0 && int8(i) > spatial) {
			continue
		}
		if int8(i) <= top && (capBPS == 0 || v.rate <= capBPS) {
			best, next = int8(i), -1
		} else if next < 0 {
			next = int8(i)
		}
	}
	return best, next
}

// wantedLayer returns the highest layer the subscriber would take if every
// layer were sent: within the spatial cap (layers paused for want of
// subscribers count with their last known bitrate), top and capBPS; at
// least best. A layer that never arrived, of unknown size and bitrate, is
// wanted when the spatial cap allows it: it may be what the preference
// asks for. (A stream imported over a node link gets a layer only once its
// packets crossed; one the publisher paused before they did would never
// be asked for again.)
func wantedLayer(views []layerView, spatial int8, capBPS uint64, top int8, best int8) int8 {
	want := best
	for i, v := range views {
		if int8(i) <= want || (spatial >= 0 && int8(i) > spatial) || int8(i) > top {
			continue
		}
		if !v.present || capBPS == 0 || v.lastRate <= capBPS {
			want = int8(i)
		}
	}
	return want
}

// sizeLayer returns the lowest layer at least width x height, sent or
// paused, or -1 if none is. A layer's size is the one of its last keyframe;
// a layer without one (paused before any was seen) is taken to be half the
// size of the next layer up, as simulcast layers usually are.
func sizeLayer(views []layerView, width, height int) int8 {
	for i, v := range views {
		if !v.present {
			continue
		}
		w, h := v.width, v.height
		for j := i + 1; w == 0 && j < len(views); j++ {
			if u := views[j]; u.present && u.width > 0 {
				w, h = u.width>>(j-i), u.height>>(j-i)
			}
		}
		if w > 0 && w >= width && h >= height {
			return int8(i)
		}
	}
	return -1
}

// fpsLayer returns the lowest temporal layer of v whose frames come at
// least fps times a second, or -1 for all of them. VP8 temporal layers
// halve the frame rate each step down.
func fpsLayer(v layerView, fps float64) int8 {
	if v.maxTID == 0 || v.fps == 0 {
		return -1
	}
	for t := int8(0); t < v.maxTID; t++ {
		if v.fps/float64(int(1)<<(v.maxTID-t)) >= fps*0.9 {
			return t
		}
	}
	return -1
}

// layerSelector is one subscriber's layer state and preferences.
type layerSelector struct {
	current     int8 // layer being forwarded; -1 while none is (start, pause, a switch to be made)
	last        int8 // layer of the last forwarded packet; -1 before the first
	target      int8 // layer to forward; -1: none fits, the video is off
	videoOff    bool // no layer fits the bandwidth: the video is off for quality
	keyframeAsk int64

	maxSpatial  int8 // preferred highest layer; -1: the highest
	maxTemporal int8 // preferred highest temporal layer; -1: all
	prefWidth   int  // preferred video size; 0: the largest
	prefHeight  int
	prefFPS     float64 // preferred frame rate; 0: the highest
	capTemporal int8    // temporal layer cap from maxTemporal and prefFPS
	temporal    int8    // temporal layer filter in force (changes at frame starts)

	picTS uint32 // VP9 SVC: timestamp of the latest picture (see admitSVC)

	selectedAt int64 // when (ns) the layer was last selected
	reselect   bool  // select again at the next packet
}

func newLayerSelector() layerSelector {
	return layerSelector{current: -1, last: -1, maxSpatial: -1, maxTemporal: -1, capTemporal: -1, temporal: -1, reselect: true}
}

// due reports whether the layer should be selected again at now.
func (s *layerSelector) due(now int64) bool {
	return s.reselect || now-s.selectedAt >= int64(selectInterval)
}

// spatialCap returns the highest layer the preferences allow, -1 for any.
func (s *layerSelector) spatialCap(views []layerView) int8 {
	spatial := s.maxSpatial
	if s.prefWidth > 0 || s.prefHeight > 0 {
		if l := sizeLayer(views, s.prefWidth, s.prefHeight); l >= 0 && (spatial < 0 || l < spatial) {
			spatial = l
		}
	}
	return spatial
}

// settle takes the outcome of a selection: the layer to forward (-1 with
// off: none fits the bandwidth). It reports whether the video went off or
// came back.
func (s *layerSelector) settle(views []layerView, best int8, off bool) (changed bool) {
	changed = off != s.videoOff
	s.videoOff = off
	if best != s.target {
		s.target = best
		s.keyframeAsk = 0 // ask for the new layer's keyframe at once
	}
	s.capTemporal = s.maxTemporal
	if best >= 0 && s.prefFPS > 0 {
		if t := fpsLayer(views[best], s.prefFPS); t >= 0 && (s.capTemporal < 0 || t < s.capTemporal) {
			s.capTemporal = t
		}
	}
	return changed
}

// verdict is what a DownTrack does with one packet.
type verdict uint8

const (
	// verdictOff: nothing is forwarded (paused, not ready, muted, or no
	// layer fits); the output has a gap.
	verdictOff verdict = iota
	// verdictShed: a packet of the congested layer left for a lower one,
	// dropped so that the lower layer's keyframe finds the queue drained.
	verdictShed
	// verdictCache: a packet of the target layer before its keyframe,
	// where the subscriber may start from the layer's cached keyframe
	// (started, if the cache has it; waitKeyframe if not).
	verdictCache
	// verdictWait: a packet of another layer, or of the target before its
	// keyframe: not forwarded.
	verdictWait
	// verdictSkip: a packet of a VP9 SVC layer above those forwarded: not
	// forwarded, and the output goes on without it.
	verdictSkip
	// verdictForward: forward it, unless it is padding or above the
	// temporal layers forwarded (skip).
	verdictForward
)

// admit judges a packet of layer, sent when on (the subscriber takes
// video now) and, with shed, while the bandwidth estimate sheds the layer
// forwarded. keyframes: forwarding must start at a keyframe. It reports the
// layer forwarded before if the packet starts forwarding on a new layer
// (switched): the output is discontinuous there. The caller shows padding
// and temporal layers after that (skip).
func (s *layerSelector) admit(layer int8, keyframe, on, shed, keyframes bool) (v verdict, switched bool, from int8) {
	if !on || s.target < 0 {
		s.current, s.keyframeAsk = -1, 0
		return verdictOff, false, 0
	}
	if layer == s.current && shed && s.target < s.current {
		return verdictShed, false, 0
	}
	if layer == s.current {
		return verdictForward, false, 0
	}
	if layer == s.target && !keyframe && keyframes && (s.last < 0 || s.last == layer) {
		return verdictCache, false, 0
	}
	if layer != s.target || (!keyframe && keyframes) {
		return verdictWait, false, 0
	}
	from = s.last
	s.current, s.temporal = layer, s.capTemporal
	return verdictForward, true, from
}

// started notes that forwarding started on layer from its cached keyframe.
func (s *layerSelector) started(layer int8) {
	s.current, s.last, s.temporal = layer, layer, s.capTemporal
}

// waitKeyframe returns the layer whose keyframe the subscriber waits for, if
// it should be asked for now: not asked before, or keyframeRetryInterval ago.
func (s *layerSelector) waitKeyframe(now int64, shedding bool) (want uint8, ask bool) {
	if (shedding || s.current != s.target) && s.target >= 0 && now-s.keyframeAsk >= int64(keyframeRetryInterval) {
		s.keyframeAsk = now
		return uint8(s.target), true
	}
	return 0, false
}

// skip reports whether a VP8 packet is above the temporal layers forwarded.
// The filter changes at frame starts (see temporalAt).
func (s *layerSelector) skip(v *vp8Descriptor, keyframe bool) bool {
	if !v.hasTID {
		return false
	}
	if v.start {
		s.temporalAt(v.tid, v.sync || keyframe)
	}
	return s.temporal >= 0 && int8(v.tid) > s.temporal
}

// temporalAt brings the temporal filter to the cap, at the start of a
// frame of temporal layer tid, where the decoder can follow: lower at any
// frame, higher at a frame of layer 0 or a sync frame (after which the
// higher layers reference nothing earlier).
func (s *layerSelector) temporalAt(tid uint8, sync bool) {
	if s.temporal == s.capTemporal {
		return
	}
	up := s.capTemporal < 0 || (s.temporal >= 0 && s.capTemporal > s.temporal)
	if !up || tid == 0 || sync {
		s.temporal = s.capTemporal
	}
}
