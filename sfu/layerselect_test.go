package sfu

import (
	"fmt"
	"testing"
)

// views builds layer snapshots from bitrates (0: not sent) and widths
// (heights are 3/4 of them).
func views(rates []uint64, widths []int) []layerView {
	v := make([]layerView, len(rates))
	for i, r := range rates {
		v[i] = layerView{present: true, sent: r > 0, rate: r, lastRate: r}
		if i < len(widths) {
			v[i].width, v[i].height = widths[i], widths[i]*3/4
		}
	}
	return v
}

func TestFitLayer(t *testing.T) {
	three := views([]uint64{150e3, 500e3, 1500e3}, nil)
	for _, tc := range []struct {
		name       string
		views      []layerView
		spatial    int8
		cap        uint64
		top        int8
		best, next int8
	}{
		{"no limits: the top", three, -1, 0, 7, 2, -1},
		{"spatial cap", three, 1, 0, 7, 1, -1},
		{"bandwidth cap", three, -1, 600e3, 7, 1, 2},
		{"top below the cap", three, -1, 0, 0, 0, 1},
		{"nothing fits", three, -1, 100e3, 7, -1, 0},
		{"a paused middle layer is skipped", views([]uint64{150e3, 0, 1500e3}, nil), -1, 600e3, 7, 0, 2},
		{"nothing sent", views([]uint64{0, 0}, nil), -1, 0, 7, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			best, next := fitLayer(tc.views, tc.spatial, tc.cap, tc.top)
			if best != tc.best || next != tc.next {
				t.Fatalf("got %d, %d; want %d, %d", best, next, tc.best, tc.next)
			}
		})
	}
}

func TestLayerPreferences(t *testing.T) {
	v := views([]uint64{150e3, 500e3, 1500e3}, []int{160, 320, 640})
	unknownLow := views([]uint64{150e3, 0, 1500e3}, []int{0, 0, 640})
	for _, tc := range []struct {
		name          string
		views         []layerView
		maxSpatial    int8
		width, height int
		want          int8
	}{
		{"none", v, -1, 0, 0, -1},
		{"a size: the smallest layer at least that large", v, -1, 300, 200, 1},
		{"larger than any: no cap", v, -1, 2000, 2000, -1},
		{"the layer cap is lower", v, 0, 300, 200, 0},
		{"sizes unknown below: half of the next known", unknownLow, -1, 300, 200, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newLayerSelector()
			s.maxSpatial, s.prefWidth, s.prefHeight = tc.maxSpatial, tc.width, tc.height
			if got := s.spatialCap(tc.views); got != tc.want {
				t.Fatalf("spatial cap %d, want %d", got, tc.want)
			}
		})
	}
	// Paused layers count with their last bitrate for what is wanted.
	paused := views([]uint64{150e3, 0, 0}, nil)
	paused[1].lastRate, paused[2].lastRate = 500e3, 1500e3
	for _, tc := range []struct {
		cap  uint64
		want int8
	}{{0, 2}, {600e3, 1}, {100e3, 0}} {
		if got := wantedLayer(paused, -1, tc.cap, 7, 0); got != tc.want {
			t.Errorf("wanted under %d bps: %d, want %d", tc.cap, got, tc.want)
		}
	}
	// A layer that never arrived is wanted unless the spatial cap excludes
	// it: the layers there do not meet the preference.
	absent := views([]uint64{150e3, 0, 0}, nil)
	absent[1].present, absent[2].present = false, false
	for _, tc := range []struct {
		spatial int8
		cap     uint64
		want    int8
	}{{-1, 0, 2}, {-1, 100e3, 2}, {1, 0, 1}, {0, 0, 0}} {
		if got := wantedLayer(absent, tc.spatial, tc.cap, 7, 0); got != tc.want {
			t.Errorf("layers 1 and 2 absent, spatial cap %d, %d bps: wanted %d, want %d", tc.spatial, tc.cap, got, tc.want)
		}
	}
	full := layerView{maxTID: 2, fps: 30}
	for fps, want := range map[float64]int8{7.5: 0, 15: 1, 30: -1} {
		if got := fpsLayer(full, fps); got != want {
			t.Errorf("temporal layer for %v fps of 30: %d, want %d", fps, got, want)
		}
	}
}

// TestLayerSelectorAdmit runs packets through a selector and checks its
// verdicts: where forwarding starts, switches, waits for keyframes, sheds
// a congested layer and stops.
func TestLayerSelectorAdmit(t *testing.T) {
	type step struct {
		target   int8 // set before the packet; -2: leave as is
		layer    int8
		keyframe bool
		on, shed bool
		want     verdict
		switched bool
		from     int8
	}
	on := true
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"start at a keyframe, from the cache before one", []step{
			{target: 1, layer: 0, on: on, want: verdictWait},
			{target: -2, layer: 1, on: on, want: verdictCache},
			{target: -2, layer: 1, keyframe: true, on: on, want: verdictForward, switched: true, from: -1},
			{target: -2, layer: 1, on: on, want: verdictForward},
		}},
		{"switch up at the new layer's keyframe", []step{
			{target: 0, layer: 0, keyframe: true, on: on, want: verdictForward, switched: true, from: -1},
			{target: 2, layer: 0, on: on, want: verdictForward},
			{target: -2, layer: 2, on: on, want: verdictWait},
			{target: -2, layer: 2, keyframe: true, on: on, want: verdictForward, switched: true, from: 0},
			{target: -2, layer: 0, on: on, want: verdictWait},
		}},
		{"congested: shed the layer left", []step{
			{target: 1, layer: 1, keyframe: true, on: on, want: verdictForward, switched: true, from: -1},
			{target: 0, layer: 1, on: on, shed: true, want: verdictShed},
			{target: -2, layer: 0, keyframe: true, on: on, shed: true, want: verdictForward, switched: true, from: 1},
		}},
		{"off, then on again", []step{
			{target: 0, layer: 0, keyframe: true, on: on, want: verdictForward, switched: true, from: -1},
			{target: -2, layer: 0, want: verdictOff},
			{target: -1, layer: 0, on: on, want: verdictOff},
			{target: 0, layer: 0, on: on, want: verdictCache},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newLayerSelector()
			for i, st := range tc.steps {
				if st.target != -2 {
					s.target = st.target
				}
				v, switched, from := s.admit(st.layer, st.keyframe, st.on, st.shed, true)
				if v == verdictForward {
					s.last = st.layer
				}
				if v != st.want || switched != st.switched || (switched && from != st.from) {
					t.Fatalf("step %d (%+v): verdict %d switched %v from %d", i, st, v, switched, from)
				}
			}
		})
	}
}

func TestLayerSelectorKeyframeRequests(t *testing.T) {
	s := newLayerSelector()
	s.target = 1
	now := int64(1e9)
	if want, ask := s.waitKeyframe(now, false); !ask || want != 1 {
		t.Fatalf("first wait: %d %v, want a request for layer 1", want, ask)
	}
	if _, ask := s.waitKeyframe(now+int64(keyframeRetryInterval)/2, false); ask {
		t.Fatal("asked again before the retry interval")
	}
	if _, ask := s.waitKeyframe(now+int64(keyframeRetryInterval), false); !ask {
		t.Fatal("not asked again after the retry interval")
	}
	s.current = 1
	if _, ask := s.waitKeyframe(now+3*int64(keyframeRetryInterval), false); ask {
		t.Fatal("asked while forwarding the target")
	}
	if want, ask := s.waitKeyframe(now+3*int64(keyframeRetryInterval), true); !ask || want != 1 {
		t.Fatal("not asked while shedding")
	}
}

func TestLayerSelectorTemporalFilter(t *testing.T) {
	s := newLayerSelector()
	s.capTemporal, s.temporal = 0, -1 // a cap set while everything was forwarded
	pkt := func(tid uint8, start, sync bool) *vp8Descriptor {
		return &vp8Descriptor{hasTID: true, tid: tid, start: start, sync: sync}
	}
	var got []string
	for _, p := range []*vp8Descriptor{pkt(2, false, false), pkt(1, true, false), pkt(2, true, false), pkt(0, true, false)} {
		got = append(got, fmt.Sprint(s.skip(p, false)))
	}
	// Down at the first frame start; tid 2 mid-frame still passes.
	if fmt.Sprint(got) != "[false true true false]" {
		t.Fatalf("skips %v", got)
	}
	s.capTemporal = -1 // up again: only at layer 0 or a sync frame
	if !s.skip(pkt(2, true, false), false) || s.skip(pkt(1, true, true), false) || s.skip(pkt(2, true, false), false) {
		t.Fatal("the filter went up at the wrong frame")
	}
}
