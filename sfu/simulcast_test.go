package sfu

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// simulcastSource feeds a group of local VP8 layers like a simulcast
// publisher: every layer sends the same frames at its own size, with its own
// sequence numbers, timestamps, picture IDs and TL0PICIDX, in three temporal
// layers (pattern 0 2 1 2).
type simulcastSource struct {
	t      *testing.T
	group  *Track
	layers []*Track
	asked  []atomic.Int32 // keyframe requests per layer
	seq    []uint16
	ts     []uint32
	pic    []uint16
	tl0    []uint8
	frame  int
}

func newSimulcastSource(t *testing.T, n int) *simulcastSource {
	s := &simulcastSource{t: t, asked: make([]atomic.Int32, n)}
	for i := 0; i < n; i++ {
		l := NewLocalTrack("v", vp8Codec)
		if i == 0 {
			l.makeGroup(n, 0)
			s.group = l
		} else if !s.group.addLayer(l, i) {
			t.Fatal("addLayer refused")
		}
		l.OnKeyframeRequest(func() { s.asked[i].Add(1) })
		s.layers = append(s.layers, l)
		s.seq = append(s.seq, uint16(1000*i+65500))
		s.ts = append(s.ts, uint32(7777777*i))
		s.pic = append(s.pic, uint16(30000+1111*i)&0x7fff)
		s.tl0 = append(s.tl0, uint8(250+i))
	}
	return s
}

// vp8Full returns a VP8 packet with a full descriptor (15-bit picture ID,
// TL0PICIDX, TID and Y), the layer index in its last payload byte.
func vp8Full(seq uint16, ts uint32, pic uint16, tl0, tid uint8, start, key, marker bool, layer int) *rtp.Packet {
	p := make([]byte, 40)
	p[0] = 0x80
	if start {
		p[0] |= 0x10
	}
	p[1] = 0xe0
	p[2], p[3] = 0x80|byte(pic>>8), byte(pic)
	p[4] = tl0
	p[5] = tid << 6
	if start {
		if key {
			w, h := 160<<layer, 120<<layer
			copy(p[6:], []byte{0x00, 0, 0, 0x9d, 0x01, 0x2a, byte(w), byte(w >> 8), byte(h), byte(h >> 8)})
		} else {
			p[6] = 0x01
		}
	}
	p[len(p)-1] = byte(layer)
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: marker, SSRC: uint32(layer + 1)}, Payload: p}
}

// frames sends n frames of two packets on every layer; key makes the first
// one a keyframe on the layers listed.
func (s *simulcastSource) frames(n int, key ...int) {
	s.t.Helper()
	for f := 0; f < n; f++ {
		tid := [4]uint8{0, 2, 1, 2}[s.frame%4]
		for i, l := range s.layers {
			isKey := f == 0 && contains(key, i)
			if isKey {
				tid = 0
			}
			if tid == 0 {
				s.tl0[i]++
			}
			for k := 0; k < 2; k++ {
				p := vp8Full(s.seq[i], s.ts[i], s.pic[i], s.tl0[i], tid, k == 0, isKey, k == 1, i)
				if err := l.WriteRTP(p); err != nil {
					s.t.Fatal(err)
				}
				s.seq[i]++
			}
			s.ts[i] += 3000
			s.pic[i] = (s.pic[i] + 1) & 0x7fff
		}
		s.frame++
		time.Sleep(time.Millisecond)
	}
}

func contains(list []int, x int) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// checkVP8Continuous checks that the output is one stream: sequence numbers
// without a gap, timestamps that never go back, picture IDs that step by
// one from frame to frame, and TL0PICIDX that steps by at most one.
func checkVP8Continuous(t *testing.T, pkts []rtp.Packet) {
	t.Helper()
	var prev vp8Descriptor
	for i, p := range pkts {
		d, ok := parseVP8(p.Payload)
		if !ok || d.picIDLen != 15 || !d.hasTL0 {
			t.Fatalf("packet %d: bad descriptor % x", i, p.Payload[:6])
		}
		if i > 0 {
			q := pkts[i-1]
			if p.SequenceNumber != q.SequenceNumber+1 {
				t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, q.SequenceNumber)
			}
			if int32(p.Timestamp-q.Timestamp) < 0 {
				t.Fatalf("packet %d: timestamp %d after %d", i, p.Timestamp, q.Timestamp)
			}
			newFrame := p.Timestamp != q.Timestamp
			if step := (d.picID - prev.picID) & 0x7fff; (newFrame && step != 1) || (!newFrame && step != 0) {
				t.Fatalf("packet %d: picture ID %d after %d (new frame %v)", i, d.picID, prev.picID, newFrame)
			}
			if step := d.tl0 - prev.tl0; step > 1 {
				t.Fatalf("packet %d: TL0PICIDX %d after %d", i, d.tl0, prev.tl0)
			}
		}
		prev = d
	}
}

// layersOf returns the source layer of each packet, run-length encoded.
func layersOf(pkts []rtp.Packet) []byte {
	var runs []byte
	for _, p := range pkts {
		l := p.Payload[len(p.Payload)-1]
		if len(runs) == 0 || runs[len(runs)-1] != l {
			runs = append(runs, l)
		}
	}
	return runs
}

func TestSimulcastLayerSwitchKeepsStreamContinuous(t *testing.T) {
	s := newSimulcastSource(t, 3)
	rec := &recorder{}
	d := attach(t, s.group, rec, SubscribeOptions{QueueSize: 1024})

	// Every layer starts with a keyframe; the DownTrack climbs to the top
	// one as they come, within the first frame.
	s.frames(4, 0, 1, 2)
	if got := d.CurrentLayer(); got != 2 {
		t.Fatalf("current layer %d, want 2", got)
	}
	if info := s.group.Layers(); len(info) != 3 || info[2].Width != 640 || info[2].Height != 480 || !info[0].Active {
		t.Fatalf("layers %+v", info)
	}

	// Down to layer 0: it keeps forwarding layer 2 until layer 0's
	// keyframe, which it asks for.
	d.SetPreferredLayers(0, -1)
	s.frames(3)
	if d.CurrentLayer() != 2 || s.asked[0].Load() != 1 {
		t.Fatalf("before the keyframe: layer %d, %d requests on layer 0", d.CurrentLayer(), s.asked[0].Load())
	}
	s.frames(4, 0)
	if d.CurrentLayer() != 0 {
		t.Fatalf("after layer 0's keyframe: layer %d", d.CurrentLayer())
	}
	// Up to layer 1.
	d.SetPreferredLayers(1, -1)
	s.frames(2)
	s.frames(4, 1)
	if d.CurrentLayer() != 1 || s.asked[1].Load() != 1 {
		t.Fatalf("layer %d, %d requests on layer 1", d.CurrentLayer(), s.asked[1].Load())
	}

	// Frames: the first on layers 0, 1 and 2; 3+3 on layer 2; 4+2 on layer 0,
	// and the one in which layer 1's keyframe comes after layer 0's packets;
	// 4 on layer 1.
	want := 2 * (3 + 3 + 3 + 4 + 2 + 1 + 4)
	waitFor(t, time.Second, "packets", func() bool { return len(rec.snapshot()) == want })
	pkts := rec.snapshot()
	checkVP8Continuous(t, pkts)
	if got := layersOf(pkts); string(got) != "\x00\x01\x02\x00\x01" {
		t.Fatalf("layers forwarded %v, want 0 1 2 0 1", got)
	}
	// Every switch lands on a keyframe.
	for i := 1; i < len(pkts); i++ {
		if pkts[i].Payload[len(pkts[i].Payload)-1] != pkts[i-1].Payload[len(pkts[i-1].Payload)-1] && pkts[i].Payload[6]&0x01 != 0 {
			t.Fatalf("packet %d: switched on a delta frame", i)
		}
	}
}

func TestSimulcastTemporalLayerFilter(t *testing.T) {
	s := newSimulcastSource(t, 1)
	rec := &recorder{}
	d := attach(t, s.group, rec, SubscribeOptions{QueueSize: 1024})
	s.frames(8, 0) // all temporal layers: 8 frames
	d.SetPreferredLayers(-1, 0)
	s.frames(8) // temporal layer 0 only: frames 8 and 12
	d.SetPreferredLayers(-1, 1)
	s.frames(8) // layers 0 and 1, from the next layer 0 frame (16): 16 18 20 22
	d.SetPreferredLayers(-1, -1)
	s.frames(4) // everything again from frame 24

	want := 2 * (8 + 2 + 4 + 4)
	waitFor(t, time.Second, "packets", func() bool { return len(rec.snapshot()) == want })
	checkVP8Continuous(t, rec.snapshot())
}

func TestSimulcastFollowsActiveLayers(t *testing.T) {
	s := newSimulcastSource(t, 2)
	rec := &recorder{}
	d := attach(t, s.group, rec, SubscribeOptions{QueueSize: 1024})
	s.frames(2, 0, 1)
	if d.CurrentLayer() != 1 {
		t.Fatalf("layer %d, want 1", d.CurrentLayer())
	}
	// The top layer stops (its publisher paused it): after a second without
	// its packets the DownTrack moves to layer 0.
	s.layers[1].lastPacket.Store(time.Now().Add(-2 * layerActiveWindow).UnixNano())
	layers := s.layers
	s.layers = layers[:1]
	s.frames(1)
	time.Sleep(selectInterval)
	s.frames(3, 0)
	if d.CurrentLayer() != 0 {
		t.Fatalf("layer %d after the top layer stopped, want 0", d.CurrentLayer())
	}
	checkVP8Continuous(t, rec.snapshot())
}

func TestSimulcastPreferredSizeAndFrameRate(t *testing.T) {
	s := newSimulcastSource(t, 3)
	rec := &recorder{}
	d := attach(t, s.group, rec, SubscribeOptions{QueueSize: 1024})
	s.frames(2, 0, 1, 2)
	// Layers are 160x120, 320x240 and 640x480: 300x200 needs layer 1.
	d.SetPreferredVideo(300, 200, 0)
	s.frames(2, 1)
	if d.CurrentLayer() != 1 {
		t.Fatalf("layer %d for 300x200, want 1", d.CurrentLayer())
	}
	d.SetPreferredVideo(2000, 2000, 0) // larger than any: the top layer
	s.frames(2, 2)
	if d.CurrentLayer() != 2 {
		t.Fatalf("layer %d for 2000x2000, want 2", d.CurrentLayer())
	}
	d.SetPreferredVideo(0, 0, 0)
	d.mu.Lock()
	d.selectLayer(time.Now().UnixNano())
	temporal := d.sel.capTemporal
	d.mu.Unlock()
	if temporal != -1 {
		t.Fatalf("temporal cap %d without a frame rate preference", temporal)
	}
	// A quarter of the full frame rate is temporal layer 0 of three.
	s.layers[2].frameRate.rate.Store(30000)
	s.layers[2].frameRate.last.Store(time.Now().UnixNano())
	d.SetPreferredVideo(0, 0, 7.5)
	d.mu.Lock()
	d.selectLayer(time.Now().UnixNano())
	temporal = d.sel.capTemporal
	d.mu.Unlock()
	if temporal != 0 {
		t.Fatalf("temporal cap %d for 7.5 of 30 fps, want 0", temporal)
	}
	checkVP8Continuous(t, rec.snapshot())
}

func TestSimulcastLayerDemand(t *testing.T) {
	s := newSimulcastSource(t, 3)
	type demand struct {
		rids   []string
		active []bool
	}
	var got []demand
	s.group.OnLayerDemand(func(rids []string, active []bool) { got = append(got, demand{rids, active}) })
	rec := &recorder{}
	d := attach(t, s.group, rec, SubscribeOptions{})
	d.SetPreferredLayers(0, -1)
	s.frames(2, 0, 1, 2)
	later := time.Now().Add(layerIdleAfter + time.Second).UnixNano()
	s.group.updateDemand(later)
	if len(got) != 1 || fmt.Sprint(got[0].active) != "[true false false]" {
		t.Fatalf("demand %+v, want only layer 0 after 3 s", got)
	}
	// Wanting the top layer resumes it at once; layer 1 stays paused.
	d.SetPreferredLayers(-1, -1)
	s.frames(1)
	s.group.updateDemand(later + int64(demandInterval))
	if len(got) != 2 || fmt.Sprint(got[1].active) != "[true false true]" {
		t.Fatalf("demand %+v, want layers 0 and 2", got)
	}
	// A paused subscriber wants nothing: back to the lowest layer only.
	d.SetPaused(true)
	s.frames(1)
	s.group.updateDemand(later + int64(demandInterval+layerIdleAfter))
	if len(got) != 3 || fmt.Sprint(got[2].active) != "[true false false]" {
		t.Fatalf("demand %+v, want layer 0 only", got)
	}
}
