package archive

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// H.264 in Matroska (codec V_MPEG4/ISO/AVC) as ISO/IEC 14496-15 has it:
// samples are NAL units each after its length, and the track's
// CodecPrivate is an AVCDecoderConfigurationRecord made from the stream's
// SPS and PPS, which players read the video's profile and size from.

// NAL unit types (ITU-T H.264, table 7-1).
const (
	naluIDR = 5 // a keyframe's slice; 1 to 5 are slices
	naluSPS = 7
	naluPPS = 8
)

// maxParams bounds the NAL units without a slice (SPS, PPS, SEI) kept
// for the next frame.
const maxParams = 8

// avcFrame returns the sample an Annex B access unit of the track makes
// (avcSample), and the AVC configuration of its SPS and PPS, if it has
// them. An access unit without a slice, as parameter sets sent apart,
// makes none: its NAL units go with the next one's.
func (t *track) avcFrame(au []byte) (sample, config []byte) {
	nalus := append(t.params, annexBNALUs(au)...)
	if !slices.ContainsFunc(nalus, func(n []byte) bool { return n[0]&0x1f <= naluIDR && n[0]&0x1f > 0 }) {
		t.params = t.params[:0]
		for _, n := range nalus[max(0, len(nalus)-maxParams):] {
			t.params = append(t.params, bytes.Clone(n)) // the sample's buffer is not ours to keep
		}
		return nil, nil
	}
	t.params = nil
	return avcSample(nalus), avcConfig(nalus)
}

// avcKeyframe reports whether an AVC sample holds an IDR slice.
func avcKeyframe(b []byte) bool {
	for len(b) > 4 {
		if b[4]&0x1f == naluIDR {
			return true
		}
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-4 {
			return false
		}
		b = b[4+n:]
	}
	return false
}

// annexBNALUs returns the NAL units of an Annex B access unit, without
// their start codes.
func annexBNALUs(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			nalus = appendNALU(nalus, b[start:i])
		}
		start = i + 3
		i += 2
	}
	if start >= 0 {
		nalus = appendNALU(nalus, b[start:])
	}
	return nalus
}

// appendNALU appends n, without the zeros that end it (the first of a
// four-byte start code, or trailing zero bytes), unless it is empty.
func appendNALU(nalus [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return nalus
	}
	return append(nalus, n)
}

// avcConfig returns the AVCDecoderConfigurationRecord (ISO/IEC 14496-15,
// 5.3.3.1) of the first SPS and PPS among nalus, or nil if they lack one.
func avcConfig(nalus [][]byte) []byte {
	var sps, pps []byte
	for _, n := range nalus {
		switch n[0] & 0x1f {
		case naluSPS:
			if sps == nil && len(n) >= 4 {
				sps = n
			}
		case naluPPS:
			if pps == nil {
				pps = n
			}
		}
	}
	if sps == nil || pps == nil {
		return nil
	}
	c := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1} // version, profile, compatibility, level; 4-byte lengths; 1 SPS
	c = binary.BigEndian.AppendUint16(c, uint16(len(sps)))
	c = append(c, sps...)
	c = append(c, 1) // 1 PPS
	c = binary.BigEndian.AppendUint16(c, uint16(len(pps)))
	return append(c, pps...)
}

// avcSample returns nalus as an AVC sample holds them: each after its
// length, in four bytes.
func avcSample(nalus [][]byte) []byte {
	size := 0
	for _, n := range nalus {
		size += 4 + len(n)
	}
	s := make([]byte, 0, size)
	for _, n := range nalus {
		s = binary.BigEndian.AppendUint32(s, uint32(len(n)))
		s = append(s, n...)
	}
	return s
}
