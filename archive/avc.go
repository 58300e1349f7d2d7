package archive

import "encoding/binary"

// H.264 in Matroska (codec V_MPEG4/ISO/AVC) as ISO/IEC 14496-15 has it:
// samples are NAL units each after its length, and the track's
// CodecPrivate is an AVCDecoderConfigurationRecord made from the stream's
// SPS and PPS, which players read the video's profile and size from.

// NAL unit types (ITU-T H.264, table 7-1).
const (
	naluSPS = 7
	naluPPS = 8
)

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
