package sfu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
	"github.com/pion/webrtc/v3"
)

// discard is a TrackLocalWriter that drops everything, standing for the
// SRTP transport.
type discard struct{}

func (discard) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return rtpHeaderSize + len(payload), nil
}
func (discard) Write(b []byte) (int, error) { return len(b), nil }

// benchTrack returns a local Track of the codec with n bound subscribers
// whose writers run until stop is called. Inline subscribers are written on
// the forwarding goroutine, as over UDP.
func benchTrack(tb testing.TB, codec webrtc.RTPCodecCapability, n int, inline bool) (tr *Track, downTracks []*DownTrack, stop func()) {
	tr = NewLocalTrack("bench", codec)
	ready, direct := new(atomic.Bool), new(atomic.Bool)
	ready.Store(true)
	direct.Store(inline)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		d := newDownTrack(tr, SubscribeOptions{}, ready, direct)
		if err := tr.addDownTrack(d); err != nil {
			tb.Fatal(err)
		}
		if _, err := d.Bind(fakeContext{ssrc: webrtc.SSRC(i + 1), writer: discard{}}); err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.writeLoop()
		}()
		downTracks = append(downTracks, d)
	}
	return tr, downTracks, func() {
		tr.Close()
		wg.Wait()
	}
}

// benchPacket is a 1000-byte VP8 keyframe packet.
func benchPacket() *rtp.Packet {
	p := vp8(0, 0, true, true, true)
	p.Payload = make([]byte, 1000)
	p.Payload[0] = 0x10
	return p
}

// BenchmarkForward measures one RTP packet going into a Track and out to n
// subscribers, whose writers copy it out of the cache and hand it to a
// transport that discards it (no SRTP, no socket: see BenchmarkSRTPEncrypt
// and BenchmarkUDPWrite for those). ns/pkt/sub is ns/op divided by n.
//
// mode=inline writes on the publisher's goroutine, as for subscribers on
// UDP: ns/op is the whole cost. With writer goroutines (ICE-TCP),
// mode=burst writes as fast as possible: ns/op is the publisher goroutine's
// cost only (the writers run on other cores) and drops/op counts packets
// the writers could not keep up with; mode=drained waits every 64 packets
// until every writer has caught up: ns/op then includes the writers' work.
func BenchmarkForward(b *testing.B) {
	for _, mode := range []string{"inline", "burst", "drained"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("mode=%s/subscribers=%d", mode, n), func(b *testing.B) {
				benchmarkForward(b, n, mode == "inline", mode == "drained")
			})
		}
	}
}

func benchmarkForward(b *testing.B, n int, inline, drained bool) {
	tr, downTracks, stop := benchTrack(b, vp8Codec, n, inline)
	defer stop()
	handled := func() (total, dropped uint64) {
		for _, d := range downTracks {
			st := d.Stats()
			total += st.PacketsOut + st.PacketsDropped
			dropped += st.PacketsDropped
		}
		return total, dropped
	}
	writePackets(b, tr, func(i int) {
		if drained && (i%64 == 0 || i == b.N) {
			for want := uint64(i * n); ; runtime.Gosched() {
				if total, _ := handled(); total >= want {
					break
				}
			}
		}
	})
	b.StopTimer()
	_, dropped := handled()
	b.ReportMetric(float64(dropped)/float64(b.N*n), "drops/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pkt/sub")
}

// writePackets writes b.N copies of benchPacket to tr, in frames of 8
// packets as a 2 Mbit/s 720p camera sends, calling each (if set) after
// packet i (1 to b.N).
func writePackets(b *testing.B, tr *Track, each func(i int)) {
	p := benchPacket()
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Payload)))
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		p.SequenceNumber++
		p.Timestamp += 3000
		p.Marker = i%8 == 0 || i == b.N
		if err := tr.WriteRTP(p); err != nil {
			b.Fatal(err)
		}
		if each != nil {
			each(i)
		}
	}
}

// BenchmarkSRTPEncrypt measures Pion's SRTP encryption of the same packet,
// the per-subscriber cost every forwarded packet pays on top of forwarding.
func BenchmarkSRTPEncrypt(b *testing.B) {
	for _, profile := range []struct {
		name    string
		profile srtp.ProtectionProfile
		saltLen int
	}{
		{"AES128_CM_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80, 14},
		{"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm, 12},
	} {
		b.Run(profile.name, func(b *testing.B) {
			ctx, err := srtp.CreateContext(make([]byte, 16), make([]byte, profile.saltLen), profile.profile)
			if err != nil {
				b.Fatal(err)
			}
			p := benchPacket()
			raw, err := p.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, len(raw)+32)
			var hdr rtp.Header
			b.ReportAllocs()
			b.SetBytes(int64(len(p.Payload)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				raw[2], raw[3] = byte(i>>8), byte(i)
				if dst, err = ctx.EncryptRTP(dst[:0], raw, &hdr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// svcBenchStream returns the packets of a VP9 L3T3 stream of 1000-byte
// packets, in pictures of three spatial layers of two packets each, with a
// keyframe every 300 pictures: next rewrites p in place, without
// allocating.
func svcBenchStream() (p *rtp.Packet, next func()) {
	var payloads [2][3][3][2][]byte // [key][tid][sid][packet]
	for key := range 2 {
		for tid := range 3 {
			for sid := range 3 {
				for k := range 2 {
					f := vp9Frame{pic: 1, sid: uint8(sid), tid: uint8(tid), inter: key == 0, start: k == 0, end: k == 1, ss: key == 1 && sid == 0 && k == 0}
					b := f.payload()
					payloads[key][tid][sid][k] = append(b, make([]byte, 1000-len(b))...)
				}
			}
		}
	}
	p = &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SSRC: 9}}
	i := 0
	return p, func() {
		pic, layer := i/6, i%6
		key := 0
		if pic%300 == 0 {
			key = 1
		}
		p.SequenceNumber = uint16(i)
		p.Timestamp = uint32(3000 * pic)
		p.Marker = layer == 5
		p.Payload = payloads[key][[4]int{0, 2, 1, 2}[pic%4]][layer/2][layer%2]
		i++
	}
}

// BenchmarkForwardSVC is BenchmarkForward (mode=inline) for a VP9 L3T3
// stream, half the subscribers taking only its lowest spatial layer.
func BenchmarkForwardSVC(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			tr, downTracks, stop := benchTrack(b, vp9Codec, n, true)
			defer stop()
			for i, d := range downTracks {
				if i%2 == 1 {
					d.SetPreferredVideo(160, 120, 0)
				}
			}
			p, next := svcBenchStream()
			b.ReportAllocs()
			b.SetBytes(int64(len(p.Payload)))
			b.ResetTimer()
			for range b.N {
				next()
				if err := tr.WriteRTP(p); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pkt/sub")
		})
	}
}
