package crossbar

import (
	"testing"
	"time"
)

func TestSpeakerDetectorDebounces(t *testing.T) {
	var d speakerDetector
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		ms     int
		levels map[string]float64
		want   string
		change bool
	}{
		{0, map[string]float64{"a": 0.001, "b": 0.002}, "", false}, // below the threshold: nobody
		{100, map[string]float64{"a": 0.3, "b": 0.1}, "", false},   // a is loudest...
		{300, map[string]float64{"a": 0.3, "b": 0.1}, "", false},
		{500, map[string]float64{"a": 0.3, "b": 0.1}, "a", true},  // ...for 400 ms: a speaks
		{600, map[string]float64{"a": 0.1, "b": 0.5}, "a", false}, // b louder, briefly
		{700, map[string]float64{"a": 0.3, "b": 0.1}, "a", false}, // a again: b's turn resets
		{800, map[string]float64{"a": 0.1, "b": 0.5}, "a", false},
		{1100, map[string]float64{"a": 0.1, "b": 0.5}, "a", false},
		{1200, map[string]float64{"a": 0.1, "b": 0.5}, "b", true},  // b loudest for 400 ms
		{1300, map[string]float64{"a": 0, "b": 0}, "b", false},     // silence...
		{2700, map[string]float64{"a": 0, "b": 0.002}, "b", false}, // ...under 1.5 s
		{2800, map[string]float64{"a": 0, "b": 0}, "", true},       // 1.5 s: nobody
	}
	for _, s := range steps {
		if got := d.update(s.levels, at(s.ms)); got != s.change || d.current != s.want {
			t.Fatalf("at %d ms: speaker %q (changed %v), want %q (changed %v)", s.ms, d.current, got, s.want, s.change)
		}
	}
}
