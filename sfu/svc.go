package sfu

import "sync/atomic"

// Scalable video (VP9 SVC, such as Chromium's L3T3_KEY): one stream whose
// pictures are made of a frame per spatial layer, each layer twice the size
// of the one below and predicted from it. A subscriber gets the spatial
// layers up to the one selected for it, and the temporal layers up to its
// cap, from the same stream: layers are chosen as simulcast layers are (see
// layerselect.go), over views of the spatial layers, where forwarding a
// layer costs its bitrate and the bitrates of the layers below.

// spatialLayers measures the spatial layers of a VP9 track.
type spatialLayers struct {
	parser vp9Parser    // ingest state, under the Track's ingestMu
	count  atomic.Int32 // layers: of the last scalability structure, or more if seen
	layers [maxLayers]spatialLayer
}

// spatialLayer is what a VP9 track measures of one of its spatial layers.
type spatialLayer struct {
	meter      rateMeter    // bits per second
	lastPacket atomic.Int64 // when (ns) its last packet arrived
	width      atomic.Uint32
	height     atomic.Uint32
}

// add counts a packet of size bytes received at now, of the spatial layer
// its descriptor names, and takes the number of layers and their sizes
// from its scalability structure, if any. It reports whether a layer
// resumes after a silence. The caller holds the Track's ingestMu.
func (s *spatialLayers) add(d *vp9Descriptor, ss *vp9Structure, size int, now int64) (started bool) {
	if ss.layers > 0 {
		// The structure announces the frames of its layers in this
		// picture: they count as sent from now, so that a subscriber
		// starting at this keyframe may start on the top layer.
		n := min(ss.layers, maxLayers)
		s.count.Store(int32(n))
		for i := range n {
			if i < len(ss.widths) {
				s.layers[i].width.Store(uint32(ss.widths[i]))
				s.layers[i].height.Store(uint32(ss.heights[i]))
			}
			started = s.layers[i].seen(now) || started
		}
	}
	if !d.layered || int(d.sid) >= maxLayers {
		return started
	}
	if int32(d.sid) >= s.count.Load() {
		s.count.Store(int32(d.sid) + 1)
	}
	l := &s.layers[d.sid]
	l.meter.add(8*uint64(size), now)
	return l.seen(now) || started
}

// seen notes that the layer is sent at now, and reports whether it was not
// before (no packet within layerActiveWindow).
func (l *spatialLayer) seen(now int64) (resumed bool) {
	last := l.lastPacket.Swap(now)
	return last == 0 || now-last >= int64(layerActiveWindow)
}

// scalable reports whether the stream has more than one spatial layer.
func (s *spatialLayers) scalable() bool { return s != nil && s.count.Load() > 1 }

// view snapshots the spatial layers into buf, for a stream of frame rate
// fps whose highest temporal layer is maxTID. A layer's rate is what
// forwarding it costs: its own and those of the layers below.
func (s *spatialLayers) view(now int64, maxTID int8, fps float64, buf *[maxLayers]layerView) []layerView {
	views := buf[:s.count.Load()]
	var rate, lastRate uint64
	for i := range views {
		l := &s.layers[i]
		last := l.lastPacket.Load()
		v := layerView{
			present: last != 0,
			sent:    last != 0 && now-last < int64(layerActiveWindow),
			width:   int(l.width.Load()),
			height:  int(l.height.Load()),
			maxTID:  maxTID,
			fps:     fps,
		}
		lastRate += l.meter.rate.Load()
		v.lastRate = lastRate
		if v.sent {
			rate += l.meter.perSecond(now)
			v.rate = rate
		}
		views[i] = v
	}
	return views
}

// info describes the spatial layers for Track.Layers.
func (s *spatialLayers) info(now int64, temporal int, fps float64) []LayerInfo {
	out := make([]LayerInfo, s.count.Load())
	for i := range out {
		l := &s.layers[i]
		last := l.lastPacket.Load()
		out[i] = LayerInfo{
			Width:          int(l.width.Load()),
			Height:         int(l.height.Load()),
			Bitrate:        l.meter.perSecond(now),
			FrameRate:      fps,
			TemporalLayers: temporal,
			Active:         last != 0 && now-last < int64(layerActiveWindow),
		}
	}
	return out
}

// admitSVC judges a packet of a scalable VP9 stream, of the picture at
// timestamp ts, sent when on (the subscriber takes video now); keyframe:
// it starts a picture that references no earlier one. The spatial layer
// forwarded (current) changes only where a picture starts: up to the
// target at a keyframe, whose every layer depends on the layers below
// alone (with L3T3_KEY no other picture lets the decoder add a layer);
// down at any picture. The temporal filter changes there too, as for VP8
// (see skip). A packet is forwarded when its layers are within both; top
// reports whether it ends the frame of the highest spatial layer
// forwarded: the end of the picture for the subscriber, where the marker
// bit goes. verdictOff and verdictWait are as for admit; verdictSkip drops
// a packet above the layers forwarded.
func (s *layerSelector) admitSVC(d *vp9Descriptor, ts uint32, keyframe, on bool) (v verdict, top bool) {
	if !on || s.target < 0 {
		s.current, s.keyframeAsk = -1, 0
		return verdictOff, false
	}
	if s.current < 0 || int32(ts-s.picTS) > 0 {
		if keyframe || s.target < s.current {
			s.current = s.target
		}
		if s.current < 0 {
			return verdictWait, false
		}
		s.picTS = ts
		s.temporalAt(d.tid, d.switchUp || keyframe)
	}
	if int8(d.sid) > s.current || (s.temporal >= 0 && int8(d.tid) > s.temporal) {
		return verdictSkip, false
	}
	return verdictForward, d.end && int8(d.sid) == s.current
}
