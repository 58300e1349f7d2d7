package sfu

import "testing"

func TestKeyframeDetection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       func([]byte) bool
		payload []byte
		want    bool
	}{
		{"vp8 key", isVP8Keyframe, []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}, true},
		{"vp8 delta", isVP8Keyframe, []byte{0x10, 0x01}, false},
		{"vp8 continuation", isVP8Keyframe, []byte{0x00, 0x00}, false},
		{"vp8 key with 15-bit picture id", isVP8Keyframe, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 key with picture id, tl0, tid", isVP8Keyframe, []byte{0x90, 0xe0, 0x12, 0x05, 0x40, 0x00}, true},
		{"vp8 truncated", isVP8Keyframe, []byte{0x90, 0x80}, false},
		{"vp9 key", isVP9Keyframe, []byte{0x88, 0x12}, true},
		{"vp9 inter", isVP9Keyframe, []byte{0xc8, 0x12}, false},
		{"vp9 key not frame start", isVP9Keyframe, []byte{0x80, 0x12}, false},
		{"vp9 key spatial layer 1", isVP9Keyframe, []byte{0xa8, 0x12, 0x02}, false},
		{"vp9 key spatial layer 0", isVP9Keyframe, []byte{0xa8, 0x92, 0x34, 0x00}, true},
		{"h264 idr", isH264Keyframe, []byte{0x65, 0x88}, true},
		{"h264 non-idr", isH264Keyframe, []byte{0x41, 0x9a}, false},
		{"h264 stap-a sps", isH264Keyframe, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264 stap-a slice", isH264Keyframe, []byte{0x78, 0x00, 0x02, 0x41, 0x9a}, false},
		{"h264 fu-a idr start", isH264Keyframe, []byte{0x7c, 0x85, 0x88}, true},
		{"h264 fu-a idr middle", isH264Keyframe, []byte{0x7c, 0x05, 0x88}, false},
		{"empty", isH264Keyframe, nil, false},
	} {
		if got := tc.f(tc.payload); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if keyframeDetector("audio/opus") != nil || keyframeDetector("video/vp8") == nil {
		t.Error("keyframeDetector picks the wrong detectors")
	}
}
