package archive

// vp8Keyframe reports whether a VP8 frame is a keyframe (RFC 6386, 9.1).
func vp8Keyframe(b []byte) bool { return len(b) > 0 && b[0]&1 == 0 }

// vp9Keyframe reports whether a VP9 frame (the first of a superframe) is
// a keyframe: its uncompressed header's frame_type (VP9 bitstream
// specification, 6.2).
func vp9Keyframe(b []byte) bool {
	if len(b) == 0 || b[0]>>6 != 2 { // frame_marker
		return false
	}
	profile := b[0]>>5&1 | b[0]>>4&1<<1
	bit := 4 // show_existing_frame, after profile_low and profile_high
	if profile == 3 {
		bit++ // reserved_zero
	}
	showExisting := b[0]>>(7-bit)&1 == 1
	frameType := b[0] >> (7 - (bit + 1)) & 1
	return !showExisting && frameType == 0
}
