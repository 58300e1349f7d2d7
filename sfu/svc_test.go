package sfu

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

var vp9Codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}

// vp9Frame describes one layer frame of a synthetic VP9 stream.
type vp9Frame struct {
	pic        uint16
	tl0        uint8
	sid, tid   uint8
	inter      bool // P: references an earlier picture
	switchUp   bool // U
	start, end bool // B, E
	ss         bool // with the scalability structure of 160x120, 320x240, 640x480
}

// payload returns the packet's VP9 payload in non-flexible mode (15-bit
// picture ID, layer indices, TL0PICIDX), its spatial layer in its last byte.
func (f vp9Frame) payload() []byte {
	b0 := byte(0x80 | 0x20) // I, L
	for _, bit := range []struct {
		on  bool
		bit byte
	}{{f.inter, 0x40}, {f.start, 0x08}, {f.end, 0x04}, {f.ss, 0x02}} {
		if bit.on {
			b0 |= bit.bit
		}
	}
	l := f.tid<<5 | f.sid<<1
	if f.switchUp {
		l |= 0x10
	}
	if f.sid > 0 {
		l |= 0x01 // D: predicted from the layer below
	}
	p := []byte{b0, 0x80 | byte(f.pic>>8), byte(f.pic), l, f.tl0}
	if f.ss {
		p = append(p, 2<<5|0x10) // N_S = 2, Y
		for w := uint16(160); w <= 640; w *= 2 {
			p = append(p, byte(w>>8), byte(w), byte(w*3/4>>8), byte(w*3/4))
		}
	}
	return append(p, make([]byte, 30)...)
}

// svcSource feeds a local VP9 Track like Chromium's L3T3_KEY: pictures of
// three spatial layers of two packets each, temporal layers 0 2 1 2.
type svcSource struct {
	t     *testing.T
	track *Track
	asked atomic.Int32 // keyframe requests
	seq   uint16
	ts    uint32
	pic   uint16
	tl0   uint8
	n     int // pictures sent
}

func newSVCSource(t *testing.T) *svcSource {
	s := &svcSource{t: t, track: NewLocalTrack("v9", vp9Codec), seq: 65530, ts: 4000000000, pic: 32760}
	s.track.OnKeyframeRequest(func() { s.asked.Add(1) })
	return s
}

// pictures sends n pictures, the first a keyframe if key is set.
func (s *svcSource) pictures(n int, key bool) {
	s.t.Helper()
	for i := 0; i < n; i++ {
		isKey := key && i == 0
		tid := [4]uint8{0, 2, 1, 2}[s.n%4]
		if isKey {
			tid = 0
		}
		if tid == 0 {
			s.tl0++
		}
		for sid := uint8(0); sid < 3; sid++ {
			for k := 0; k < 2; k++ {
				f := vp9Frame{pic: s.pic, tl0: s.tl0, sid: sid, tid: tid, inter: !isKey, switchUp: tid > 0, start: k == 0, end: k == 1, ss: isKey && sid == 0 && k == 0}
				payload := f.payload()
				payload[len(payload)-1] = sid
				p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: s.seq, Timestamp: s.ts, Marker: sid == 2 && k == 1, SSRC: 9}, Payload: payload}
				if err := s.track.WriteRTP(p); err != nil {
					s.t.Fatal(err)
				}
				s.seq++
			}
		}
		s.ts += 3000
		s.pic = (s.pic + 1) & 0x7fff
		s.n++
	}
}

// checkSVCOutput checks one subscriber's output: sequence numbers without
// a gap, timestamps that never go back, the source's picture IDs, and the
// marker bit on the last packet of each picture, which is the end of the
// highest spatial layer sent in it. It returns the spatial layers of each
// picture, as a bit set.
func checkSVCOutput(t *testing.T, pkts []rtp.Packet) []uint8 {
	t.Helper()
	var layers []uint8
	var parser vp9Parser
	for i, p := range pkts {
		d, _, ok := parser.parse(p.Payload)
		if !ok || !d.layered {
			t.Fatalf("packet %d: bad descriptor % x", i, p.Payload[:5])
		}
		if sid := p.Payload[len(p.Payload)-1]; sid != d.sid {
			t.Fatalf("packet %d: spatial layer %d, payload of %d", i, d.sid, sid)
		}
		last := i == len(pkts)-1 || pkts[i+1].Timestamp != p.Timestamp
		if p.Marker != last {
			t.Fatalf("packet %d (layer %d): marker %v, last of its picture %v", i, d.sid, p.Marker, last)
		}
		if i == 0 || pkts[i-1].Timestamp != p.Timestamp {
			layers = append(layers, 0)
		}
		layers[len(layers)-1] |= 1 << d.sid
		if i == 0 {
			continue
		}
		q := pkts[i-1]
		if p.SequenceNumber != q.SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, q.SequenceNumber)
		}
		if int32(p.Timestamp-q.Timestamp) < 0 {
			t.Fatalf("packet %d: timestamp %d after %d", i, p.Timestamp, q.Timestamp)
		}
	}
	return layers
}

func TestAdmitSVC(t *testing.T) {
	type step struct {
		name      string
		target    int8 // the layer selected
		temporal  int8 // the temporal cap
		off       bool // the subscriber takes no video
		ts        uint32
		key       bool
		sid, tid  uint8
		switchUp  bool
		end       bool
		want      verdict
		wantTop   bool
		wantLayer int8 // the spatial layer forwarded after the packet
	}
	steps := []step{
		{name: "no keyframe yet", target: 1, temporal: -1, ts: 1000, want: verdictWait, wantLayer: -1},
		{name: "a keyframe starts it, at the target", target: 1, temporal: -1, ts: 2000, key: true, want: verdictForward, wantLayer: 1},
		{name: "the end of layer 0 is not the top", target: 1, temporal: -1, ts: 2000, end: true, want: verdictForward, wantLayer: 1},
		{name: "the end of layer 1 is the top", target: 1, temporal: -1, ts: 2000, sid: 1, end: true, want: verdictForward, wantTop: true, wantLayer: 1},
		{name: "layer 2 is left out", target: 1, temporal: -1, ts: 2000, sid: 2, end: true, want: verdictSkip, wantLayer: 1},
		{name: "up: not without a keyframe", target: 2, temporal: -1, ts: 3000, tid: 2, want: verdictForward, wantLayer: 1},
		{name: "up: layer 2 still left out", target: 2, temporal: -1, ts: 3000, sid: 2, tid: 2, want: verdictSkip, wantLayer: 1},
		{name: "up at a keyframe", target: 2, temporal: -1, ts: 4000, key: true, want: verdictForward, wantLayer: 2},
		{name: "up: layer 2 of the keyframe", target: 2, temporal: -1, ts: 4000, sid: 2, end: true, want: verdictForward, wantTop: true, wantLayer: 2},
		{name: "down: not within a picture", target: 0, temporal: -1, ts: 4000, sid: 2, want: verdictForward, wantLayer: 2},
		{name: "down at the next picture", target: 0, temporal: -1, ts: 5000, tid: 2, end: true, want: verdictForward, wantTop: true, wantLayer: 0},
		{name: "down: layer 1 left out", target: 0, temporal: -1, ts: 5000, sid: 1, tid: 2, want: verdictSkip, wantLayer: 0},
		{name: "a late packet of an earlier picture", target: 0, temporal: -1, ts: 4000, sid: 0, end: true, want: verdictForward, wantTop: true, wantLayer: 0},
		{name: "temporal down at any picture", target: 0, temporal: 0, ts: 6000, tid: 1, want: verdictSkip, wantLayer: 0},
		{name: "temporal layer 0 passes", target: 0, temporal: 0, ts: 7000, want: verdictForward, wantLayer: 0},
		{name: "temporal up: not at layer 2", target: 0, temporal: -1, ts: 8000, tid: 2, want: verdictSkip, wantLayer: 0},
		{name: "temporal up at a switching point", target: 0, temporal: -1, ts: 9000, tid: 1, switchUp: true, want: verdictForward, wantLayer: 0},
		{name: "temporal up: later frames pass", target: 0, temporal: -1, ts: 10000, tid: 2, want: verdictForward, wantLayer: 0},
		{name: "off", target: 0, temporal: -1, off: true, ts: 11000, want: verdictOff, wantLayer: -1},
		{name: "back on: a keyframe again", target: 0, temporal: -1, ts: 12000, want: verdictWait, wantLayer: -1},
		{name: "no layer fits", target: -1, temporal: -1, ts: 13000, key: true, want: verdictOff, wantLayer: -1},
	}
	s := newLayerSelector()
	for _, st := range steps {
		s.target, s.capTemporal = st.target, st.temporal
		d := vp9Descriptor{layered: true, sid: st.sid, tid: st.tid, start: true, end: st.end, switchUp: st.switchUp}
		v, top := s.admitSVC(&d, st.ts, st.key, !st.off)
		if v != st.want || top != st.wantTop || s.current != st.wantLayer {
			t.Fatalf("%s: verdict %d, top %v, layer %d; want %d, %v, %d", st.name, v, top, s.current, st.want, st.wantTop, st.wantLayer)
		}
	}
}

// Two subscribers of one VP9 SVC stream get the spatial layers of the
// sizes they prefer, as one continuous stream each; one that asks for more
// moves up at the keyframe it asks for, and down again at the next picture.
func TestSVCForwardsLayersPerSubscriber(t *testing.T) {
	src := newSVCSource(t)
	lowRec, highRec := &recorder{}, &recorder{}
	low := attach(t, src.track, lowRec, SubscribeOptions{QueueSize: 1024})
	high := attach(t, src.track, highRec, SubscribeOptions{QueueSize: 1024})
	low.SetPreferredVideo(160, 120, 0)
	src.pictures(8, true)
	if !src.track.scalable() {
		t.Fatal("the track is not scalable")
	}
	if got := src.track.Layers(); len(got) != 3 || got[0].Width != 160 || got[2].Height != 480 || got[2].TemporalLayers != 3 {
		t.Fatalf("layers %+v", got)
	}
	if low.CurrentLayer() != 0 || high.CurrentLayer() != 2 {
		t.Fatalf("layers %d and %d, want 0 and 2", low.CurrentLayer(), high.CurrentLayer())
	}

	asked := src.asked.Load()
	low.SetPreferredVideo(0, 0, 0)
	src.pictures(2, false) // layer 0 until a keyframe
	if src.asked.Load() == asked {
		t.Fatal("no keyframe asked for to move up")
	}
	src.pictures(2, true)
	if low.CurrentLayer() != 2 {
		t.Fatalf("layer %d after the keyframe, want 2", low.CurrentLayer())
	}
	low.SetPreferredVideo(320, 240, 0)
	src.pictures(2, false)

	waitFor(t, time.Second, "packets", func() bool {
		return len(lowRec.snapshot()) == 2*10+6*2+4*2 && len(highRec.snapshot()) == 6*14
	})
	want := []uint8{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 7, 7, 3, 3}
	if got := checkSVCOutput(t, lowRec.snapshot()); string(got) != string(want) {
		t.Errorf("low subscriber's layers per picture %v, want %v", got, want)
	}
	for i, l := range checkSVCOutput(t, highRec.snapshot()) {
		if l != 7 {
			t.Fatalf("high subscriber: picture %d has layers %b", i, l)
		}
	}
}

// VP9 payloads that do not parse neither panic nor reach subscribers.
func TestSVCMalformedDescriptors(t *testing.T) {
	src := newSVCSource(t)
	rec := &recorder{}
	attach(t, src.track, rec, SubscribeOptions{QueueSize: 1024})
	src.pictures(2, true)
	before := len(rec.snapshot())
	bad := [][]byte{
		{0x80},                         // I without a picture ID
		{0x80, 0x80},                   // a 15-bit picture ID cut short
		{0x20},                         // L without layer indices
		{0x20, 0x0e, 0},                // spatial layer 7
		{0x22, 0x00, 0x00},             // SS missing
		{0x22, 0x00, 0x00, 0x50, 0x01}, // SS sizes cut short
		{0x22, 0x00, 0x00, 0x08, 0x03}, // SS picture group cut short
		{0x50, 0x03, 0x03, 0x03, 0x03}, // too many reference indices
		{0xb8},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		p := make([]byte, r.IntN(24))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		bad = append(bad, p)
	}
	var parser vp9Parser
	for _, p := range bad[:9] {
		if _, _, ok := parser.parse(p); ok {
			t.Errorf("% x parsed", p)
		}
	}
	seq, ts := src.seq, src.ts
	for _, p := range bad {
		if err := src.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: p}); err != nil {
			t.Fatal(err)
		}
		seq++
		ts += 3000
	}
	src.seq, src.ts = seq, ts
	src.pictures(2, true)
	waitFor(t, time.Second, "the stream after the bad packets", func() bool { return len(rec.snapshot()) > before })
}

// A subscriber of the lowest spatial layer has its losses of earlier
// pictures retransmitted, marker bit included; the keyframe requests of
// one of the top layer reach the publisher.
func TestSVCRetransmitsAndAsksForKeyframes(t *testing.T) {
	src := newSVCSource(t)
	rec := &recorder{}
	low := attach(t, src.track, rec, SubscribeOptions{QueueSize: 1024})
	low.SetPreferredVideo(160, 120, 0)
	high := attach(t, src.track, &recorder{}, SubscribeOptions{})
	src.pictures(4, true)
	waitFor(t, time.Second, "packets", func() bool { return len(rec.snapshot()) == 8 })
	sent := rec.snapshot()
	lost := sent[1] // the end of the first picture, two pictures back
	low.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{lost.SequenceNumber})}}, time.Now())
	waitFor(t, time.Second, "the retransmission", func() bool { return len(rec.snapshot()) == 9 })
	again := rec.snapshot()[8]
	if again.SequenceNumber != lost.SequenceNumber || again.Timestamp != lost.Timestamp || !again.Marker || string(again.Payload) != string(lost.Payload) {
		t.Fatalf("retransmitted %v, want %v", again.Header, lost.Header)
	}

	asked := src.asked.Load()
	high.handleRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{}}, time.Now())
	waitFor(t, 2*keyframeRequestInterval, "the keyframe request", func() bool { return src.asked.Load() > asked })
}
