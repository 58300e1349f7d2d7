package client

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/image/vp8"
)

// TestVP8KeyframeDecodes decodes synthetic keyframes with an independent
// VP8 decoder (x/image/vp8 reads keyframes only), from the smallest frame
// to one padded to a bitrate.
func TestVP8KeyframeDecodes(t *testing.T) {
	for _, c := range []struct{ w, h, size int }{{160, 120, 0}, {320, 240, 0}, {17, 9, 0}, {640, 480, 0}, {160, 120, 20000}} {
		t.Run(fmt.Sprintf("%dx%d-%d", c.w, c.h, c.size), func(t *testing.T) {
			frame := vp8Frame(true, c.w, c.h, c.size)
			if len(frame) < c.size {
				t.Fatalf("%d bytes, want at least %d", len(frame), c.size)
			}
			d := vp8.NewDecoder()
			d.Init(bytes.NewReader(frame), len(frame))
			fh, err := d.DecodeFrameHeader()
			if err != nil {
				t.Fatal(err)
			}
			if !fh.KeyFrame || fh.Width != c.w || fh.Height != c.h {
				t.Fatalf("frame header %+v", fh)
			}
			img, err := d.DecodeFrame()
			if err != nil {
				t.Fatal(err)
			}
			// Grey: 128, or 129 where the prediction reaches the frame's
			// left edge (129 in VP8).
			for _, plane := range [][]byte{img.Y, img.Cb, img.Cr} {
				for i, v := range plane {
					if v != 128 && v != 129 {
						t.Fatalf("sample %d is %d, want grey", i, v)
					}
				}
			}
			t.Logf("keyframe %d bytes, interframe %d", len(frame), len(vp8Frame(false, c.w, c.h, c.size)))
		})
	}
}

// TestVP8FrameTag checks the frame tags that RTP forwarders read: the
// keyframe bit, show_frame and the first partition's size.
func TestVP8FrameTag(t *testing.T) {
	for _, key := range []bool{true, false} {
		f := vp8Frame(key, 160, 120, 5000)
		tag := uint32(f[0]) | uint32(f[1])<<8 | uint32(f[2])<<16
		if gotKey := tag&1 == 0; gotKey != key {
			t.Errorf("keyframe %v: tag says %v", key, gotKey)
		}
		if tag>>4&1 != 1 {
			t.Errorf("keyframe %v: not shown", key)
		}
		if first := int(tag >> 5); first <= 0 || first >= len(f) {
			t.Errorf("keyframe %v: first partition of %d bytes in a frame of %d", key, first, len(f))
		}
		if len(f) != 5000 {
			t.Errorf("keyframe %v: %d bytes, want the 5000 asked for", key, len(f))
		}
	}
}

// TestSynthMark reads back the tag and number of marked frames, which
// still decode, and finds no mark where there is none.
func TestSynthMark(t *testing.T) {
	frame := markFrame(vp8Frame(true, 160, 120, 0), "alice", 7)
	tag, n, ok := ReadSynthMark(frame)
	if !ok || tag != "alice" || n != 7 {
		t.Fatalf("mark: %q %d %v, want \"alice\" 7 true", tag, n, ok)
	}
	d := vp8.NewDecoder()
	d.Init(bytes.NewReader(frame), len(frame))
	if _, err := d.DecodeFrameHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DecodeFrame(); err != nil {
		t.Fatalf("a marked keyframe does not decode: %v", err)
	}
	for _, f := range [][]byte{vp8Frame(true, 160, 120, 0), frame[:len(frame)-3], nil} {
		if _, _, ok := ReadSynthMark(f); ok {
			t.Errorf("a mark read in a frame of %d bytes without one", len(f))
		}
	}
}
