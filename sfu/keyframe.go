package sfu

import (
	"strings"

	"github.com/pion/webrtc/v3"
)

// keyframeDetector returns the function that tells whether an RTP payload of
// the given codec starts a keyframe, or nil for codecs that have no keyframes
// (audio) or that the engine does not parse.
func keyframeDetector(mimeType string) func(payload []byte) bool {
	switch {
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP8):
		return isVP8Keyframe
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP9):
		return isVP9Keyframe
	case strings.EqualFold(mimeType, webrtc.MimeTypeH264):
		return isH264Keyframe
	}
	return nil
}

// isVP8Keyframe parses the VP8 payload descriptor (RFC 7741 section 4.2) and
// reports whether the packet starts partition 0 of a key frame.
func isVP8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	if b0&0x10 == 0 || b0&0x07 != 0 { // S bit unset or partition index not 0
		return false
	}
	i := 1
	if b0&0x80 != 0 { // X: extension byte follows
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0 // P bit of the VP8 payload header: 0 for key frames
}

// isVP9Keyframe parses the VP9 payload descriptor (RFC 9628 section 4.2) and
// reports whether the packet starts a frame that references no earlier
// frame, in spatial layer 0.
func isVP9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	const (
		bitI = 0x80
		bitP = 0x40
		bitL = 0x20
		bitB = 0x08
	)
	if b0&bitP != 0 || b0&bitB == 0 {
		return false
	}
	i := 1
	if b0&bitI != 0 {
		if len(p) <= i {
			return false
		}
		if p[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if b0&bitL != 0 {
		if len(p) <= i {
			return false
		}
		if (p[i]>>1)&0x07 != 0 { // spatial layer id
			return false
		}
	}
	return true
}

// isH264Keyframe reports whether an H.264 payload (RFC 6184) carries an IDR
// slice or a sequence parameter set, in a single NAL unit, a STAP-A
// aggregate or the first fragment of an FU-A.
func isH264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch nal := p[0] & 0x1f; nal {
	case 5, 7:
		return true
	case 24: // STAP-A
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if t := p[i] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += size
		}
	case 28: // FU-A
		if len(p) < 2 {
			return false
		}
		start, t := p[1]&0x80 != 0, p[1]&0x1f
		return start && (t == 5 || t == 7)
	}
	return false
}
