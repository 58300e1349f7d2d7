package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// trackFeed is a TrackLocalWriter that feeds what a DownTrack writes into
// another Track: a node link without the network.
type trackFeed struct {
	t *Track
	p rtp.Packet
}

func (f *trackFeed) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	f.p.Header, f.p.Payload = *h, payload
	return rtpHeaderSize + len(payload), f.t.WriteRTP(&f.p)
}

func (f *trackFeed) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkLinkForward measures what a node link costs per packet,
// without the network (SRTP and sockets, which the link pays once per
// packet like any subscriber and publisher: see BenchmarkSRTPEncrypt):
//
//   - path=local: a Track and one subscriber on the same engine, as
//     BenchmarkForward mode=inline subscribers=1: the reference.
//   - path=export: a Track and the DownTrack that carries it over the link,
//     what the exporting engine pays per packet sent.
//   - path=import: the imported Track on the importing engine, without
//     subscribers, what that engine pays per packet received.
//   - path=relay: all of it, from the exporting engine's Track to a
//     subscriber of the importing engine.
func BenchmarkLinkForward(b *testing.B) {
	b.Run("path=local", func(b *testing.B) {
		tr, _, stop := benchTrack(b, vp8Codec, 1, true)
		defer stop()
		writePackets(b, tr, nil)
	})
	b.Run("path=export", func(b *testing.B) {
		tr := linkExport(b, discard{})
		defer tr.Close()
		writePackets(b, tr, nil)
	})
	b.Run("path=import", func(b *testing.B) {
		imported, _, stop := benchTrack(b, vp8Codec, 0, true)
		defer stop()
		writePackets(b, imported, nil)
	})
	b.Run("path=relay", func(b *testing.B) {
		imported, _, stop := benchTrack(b, vp8Codec, 1, true)
		defer stop()
		tr := linkExport(b, &trackFeed{t: imported})
		defer tr.Close()
		writePackets(b, tr, nil)
		if got := imported.Stats().PacketsIn; got != uint64(b.N) {
			b.Fatalf("%d packets crossed, want %d", got, b.N)
		}
	})
}

// linkExport returns a local VP8 Track exported by a link DownTrack that
// writes to w, on the forwarding goroutine (as over UDP).
func linkExport(b *testing.B, w webrtc.TrackLocalWriter) *Track {
	tr := NewLocalTrack("bench", vp8Codec)
	ready := new(atomic.Bool)
	ready.Store(true)
	d := newDownTrack(tr, SubscribeOptions{linkLayer: 1}, ready, ready)
	if err := tr.addDownTrack(d); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Bind(fakeContext{ssrc: 1, writer: w}); err != nil {
		b.Fatal(err)
	}
	return tr
}
