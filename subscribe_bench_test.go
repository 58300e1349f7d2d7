package crossbar_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
)

// BenchmarkSubscribe measures the negotiation cost of subscribing: the time
// from a Go client's Subscribe call to its first forwarded video packet, for
// the first and for the tenth subscription on one connection (each adds a
// renegotiation of the connection's subscribing peer connection). The
// streams are host-published and send a keyframe every frame, so the figures
// leave out the wait for a publisher's keyframe.
func BenchmarkSubscribe(b *testing.B) {
	h := newHarness(b, crossbar.Config{})
	s, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const streams = 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ids []string
	for range streams {
		pub, err := s.Publish(crossbar.PublishOptions{Video: vp8})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, pub.Stream().ID())
		go feed(ctx, pub)
	}
	var first, tenth []time.Duration
	for b.Loop() {
		tok, _ := h.srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.RoleSubscriber})
		c, err := client.Connect(ctx, h.ws, tok, &client.Options{Media: client.MediaOptions{LoopbackOnly: true}})
		if err != nil {
			b.Fatal(err)
		}
		for i, id := range ids {
			start := time.Now()
			sub, err := c.Subscribe(ctx, id, client.SubscribeOptions{Video: true})
			if err != nil {
				b.Fatal(err)
			}
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			_, _, err = sub.ReadRTP(rctx)
			rcancel()
			if err != nil {
				b.Fatalf("subscription %d: no packet: %v", i+1, err)
			}
			switch i {
			case 0:
				first = append(first, time.Since(start))
			case streams - 1:
				tenth = append(tenth, time.Since(start))
			}
		}
		c.Disconnect()
	}
	b.ReportMetric(median(first).Seconds()*1000, "ms-1st")
	b.ReportMetric(median(tenth).Seconds()*1000, "ms-10th")
}

// feed writes a VP8 keyframe to pub every 33 ms until ctx ends.
func feed(ctx context.Context, pub *crossbar.Publisher) {
	tick := time.NewTicker(33 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pub.WriteRTP(webrtc.RTPCodecTypeVideo, &rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i * 3000)},
			Payload: vp8Keyframe,
		})
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}
