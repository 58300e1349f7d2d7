package sfu

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

var vp8Codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}

// fakeContext is the webrtc.TrackLocalContext of a DownTrack bound without
// a PeerConnection.
type fakeContext struct {
	ssrc   webrtc.SSRC
	writer webrtc.TrackLocalWriter
}

func (c fakeContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111},
		{RTPCodecCapability: vp8Codec, PayloadType: 96},
		{RTPCodecCapability: vp9Codec, PayloadType: 98},
	}
}
func (c fakeContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c fakeContext) SSRC() webrtc.SSRC                                      { return c.ssrc }
func (c fakeContext) WriteStream() webrtc.TrackLocalWriter                   { return c.writer }
func (c fakeContext) ID() string                                             { return "fake" }
func (c fakeContext) RTCPReader() interceptor.RTCPReader                     { return nil }

// recorder is a TrackLocalWriter that keeps copies of what is written.
type recorder struct {
	mu      sync.Mutex
	packets []rtp.Packet
	block   chan struct{} // if set, writes wait until it is closed
}

func (r *recorder) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.packets = append(r.packets, rtp.Packet{Header: *h, Payload: append([]byte(nil), payload...)})
	return rtpHeaderSize + len(payload), nil
}

func (r *recorder) Write(b []byte) (int, error) { return 0, errors.New("unused") }

func (r *recorder) snapshot() []rtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtp.Packet(nil), r.packets...)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// attach subscribes a fake, always-ready subscriber to tr and runs its writer.
func attach(t *testing.T, tr *Track, w webrtc.TrackLocalWriter, opts SubscribeOptions) *DownTrack {
	t.Helper()
	ready := new(atomic.Bool)
	ready.Store(true)
	d := newDownTrack(tr, opts, ready, nil)
	if err := tr.addDownTrack(d); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Bind(fakeContext{ssrc: 4242, writer: w}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.writeLoop()
	}()
	t.Cleanup(func() {
		tr.removeDownTrack(d)
		d.close()
		wg.Wait()
	})
	return d
}

// vp8 returns a synthetic VP8 packet: the first packet of a frame starts
// with S=1 and a key or delta frame header.
func vp8(seq uint16, ts uint32, frameStart, key, marker bool) *rtp.Packet {
	payload := make([]byte, 100)
	if frameStart {
		payload[0] = 0x10
		if !key {
			payload[1] = 0x01
		}
	}
	payload[2] = byte(seq)
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 100, SequenceNumber: seq, Timestamp: ts, SSRC: 99, Marker: marker},
		Payload: payload,
	}
}

// writeFrames writes frames of 3 packets starting at seq, the first frame
// a keyframe if key is set, and returns the next seq and timestamp.
func writeFrames(t *testing.T, tr *Track, seq uint16, ts uint32, frames int, key bool) (uint16, uint32) {
	t.Helper()
	for f := 0; f < frames; f++ {
		for i := 0; i < 3; i++ {
			if err := tr.WriteRTP(vp8(seq, ts, i == 0, key && f == 0, i == 2)); err != nil {
				t.Fatal(err)
			}
			seq++
		}
		ts += 3000
	}
	return seq, ts
}

func checkContinuous(t *testing.T, pkts []rtp.Packet, want int) {
	t.Helper()
	if len(pkts) != want {
		t.Fatalf("got %d packets, want %d", len(pkts), want)
	}
	for i := 1; i < len(pkts); i++ {
		if pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, pkts[i].SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if int32(pkts[i].Timestamp-pkts[i-1].Timestamp) < 0 {
			t.Fatalf("packet %d: timestamp goes back", i)
		}
	}
}

func TestDownTrackRewritesAndWaitsForKeyframe(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	var keyframeRequests atomic.Int32
	tr.OnKeyframeRequest(func() { keyframeRequests.Add(1) })
	rec := &recorder{}
	attach(t, tr, rec, SubscribeOptions{QueueSize: 1024})

	seq, ts := writeFrames(t, tr, 65000, 1000, 2, false) // no keyframe yet: nothing forwarded
	if keyframeRequests.Load() != 1 {
		t.Fatalf("%d keyframe requests while waiting, want 1", keyframeRequests.Load())
	}
	for i := 0; i < 6; i++ { // crosses the 16-bit wrap
		// Paced so the writer never falls a cache's length behind.
		seq, ts = writeFrames(t, tr, seq, ts, 50, i == 0)
		waitFor(t, time.Second, "packets", func() bool { return len(rec.snapshot()) == (i+1)*150 })
	}
	pkts := rec.snapshot()
	checkContinuous(t, pkts, 900)
	if pkts[0].Payload[0] != 0x10 || pkts[0].Payload[1] != 0 {
		t.Fatal("first forwarded packet is not the keyframe")
	}
	for _, p := range pkts {
		if p.SSRC != 4242 || p.PayloadType != 96 {
			t.Fatalf("ssrc %d pt %d not rewritten", p.SSRC, p.PayloadType)
		}
	}
}

func TestDownTrackPauseMuteContinuity(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	var keyframeRequests atomic.Int32
	tr.OnKeyframeRequest(func() { keyframeRequests.Add(1) })
	rec := &recorder{}
	d := attach(t, tr, rec, SubscribeOptions{})

	seq, ts := writeFrames(t, tr, 1, 1000, 10, true)
	d.SetPaused(true)
	// Too many packets since the last keyframe to start from the cache.
	seq, ts = writeFrames(t, tr, seq, ts, 50, false)
	d.SetPaused(false)
	seq, ts = writeFrames(t, tr, seq, ts, 5, false) // dropped: waits for a keyframe, asks for one
	waitFor(t, time.Second, "keyframe request on resume", func() bool { return keyframeRequests.Load() == 1 })
	seq, ts = writeFrames(t, tr, seq, ts, 10, true)
	tr.SetMuted(true)
	seq, ts = writeFrames(t, tr, seq, ts, 10, true)
	tr.SetMuted(false)
	writeFrames(t, tr, seq, ts, 10, true)

	waitFor(t, time.Second, "90 packets", func() bool { return len(rec.snapshot()) == 90 })
	pkts := rec.snapshot()
	checkContinuous(t, pkts, 90)
	// Same source: the timestamp keeps the source's timeline across the pause.
	if got := pkts[30].Timestamp - pkts[29].Timestamp; got != 56*3000 {
		t.Fatalf("timestamp step across the pause %d, want %d", got, 56*3000)
	}
}

func TestDownTrackAnswersNACKFromSharedCache(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	rec1, rec2 := &recorder{}, &recorder{}
	d1 := attach(t, tr, rec1, SubscribeOptions{})
	writeFrames(t, tr, 100, 0, 5, true)
	d2 := attach(t, tr, rec2, SubscribeOptions{}) // joins later: other numbering
	writeFrames(t, tr, 115, 15000, 5, true)
	waitFor(t, time.Second, "packets", func() bool { return len(rec1.snapshot()) == 30 && len(rec2.snapshot()) == 15 })

	// Each subscriber NACKs its own 5th and 7th packet.
	for _, c := range []struct {
		d   *DownTrack
		rec *recorder
	}{{d1, rec1}, {d2, rec2}} {
		sent := c.rec.snapshot()
		lost := []uint16{sent[4].SequenceNumber, sent[6].SequenceNumber, sent[len(sent)-1].SequenceNumber + 5}
		c.d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(lost)}}, time.Now())
		waitFor(t, time.Second, "retransmissions", func() bool { return len(c.rec.snapshot()) == len(sent)+2 })
		all := c.rec.snapshot()
		for i, idx := range []int{4, 6} {
			got := all[len(sent)+i]
			if got.SequenceNumber != sent[idx].SequenceNumber || got.Timestamp != sent[idx].Timestamp ||
				got.Payload[2] != sent[idx].Payload[2] || got.SSRC != sent[idx].SSRC {
				t.Fatalf("retransmission %d = seq %d ts %d payload %d, want seq %d ts %d payload %d", i,
					got.SequenceNumber, got.Timestamp, got.Payload[2], sent[idx].SequenceNumber, sent[idx].Timestamp, sent[idx].Payload[2])
			}
		}
		st := c.d.Stats()
		if st.NACKsReceived != 3 || st.NACKsAnswered != 2 {
			t.Fatalf("stats %+v, want 3 received, 2 answered", st)
		}
	}
}

func TestSlowSubscriberDoesNotBlockOthers(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	stuck := &recorder{block: make(chan struct{})}
	fast := &recorder{}
	slow := attach(t, tr, stuck, SubscribeOptions{QueueSize: 16})
	attach(t, tr, fast, SubscribeOptions{QueueSize: 512})
	defer close(stuck.block)

	done := make(chan struct{})
	go func() {
		defer close(done)
		writeFrames(t, tr, 0, 0, 100, true)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publisher blocked by a stuck subscriber")
	}
	waitFor(t, time.Second, "fast subscriber", func() bool { return len(fast.snapshot()) == 300 })
	if d := slow.Stats().PacketsDropped; d < 300-16-1 {
		t.Fatalf("stuck subscriber dropped %d packets, want at least %d", d, 300-16-1)
	}
}

func TestReader(t *testing.T) {
	tr := NewLocalTrack("a", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if tr.Kind() != webrtc.RTPCodecTypeAudio {
		t.Fatalf("kind %v", tr.Kind())
	}
	r, err := tr.NewReader(8)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(500 + i), Timestamp: uint32(i * 960), SSRC: 1}, Payload: []byte{byte(i), 1, 2}}
		if i == 3 {
			p.Padding, p.PaddingSize = true, 4
		}
		if err := tr.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var last uint16
	for i := 0; i < 8; i++ {
		p, err := r.ReadRTP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && p.SequenceNumber != last+1 {
			t.Fatalf("seq %d after %d", p.SequenceNumber, last)
		}
		last = p.SequenceNumber
		if p.Payload[0] != byte(i) || len(p.Payload) != 3 || p.PayloadType != 111 {
			t.Fatalf("packet %d: %v", i, p)
		}
		if i == 3 && (!p.Padding || p.Header.PaddingSize != 4) {
			t.Fatalf("padding lost: %+v", p.Header)
		}
	}
	if st := r.Stats(); st.PacketsDropped != 2 || st.PacketsOut != 8 {
		t.Fatalf("stats %+v, want 8 out, 2 dropped", st)
	}
	tr.Close()
	if _, err := r.ReadRTP(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("read after close: %v, want EOF", err)
	}
	if err := tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2}}); !errors.Is(err, ErrTrackClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if _, err := tr.NewReader(1); !errors.Is(err, ErrTrackClosed) {
		t.Fatalf("reader after close: %v", err)
	}
}

func TestReaderContextAndStats(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	r, err := tr.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.ReadRTP(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read: %v", err)
	}
	writeFrames(t, tr, 10, 0, 2, true)
	st := tr.Stats()
	if st.PacketsIn != 6 || st.BytesIn != 6*112 || st.PacketsLost != 0 {
		t.Fatalf("track stats %+v", st)
	}
	// A hole of 3 packets shows as loss until it is filled.
	writeFrames(t, tr, 19, 6000, 1, false)
	if st := tr.Stats(); st.PacketsLost != 3 {
		t.Fatalf("lost %d, want 3", st.PacketsLost)
	}
	r.Close()
	if _, err := r.ReadRTP(context.Background()); err == nil {
		// Queued packets are still returned after Close, then EOF.
		for err == nil {
			_, err = r.ReadRTP(context.Background())
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("read after close: %v", err)
		}
	}
}

// reports is an rtcpWriter that keeps the sender reports written.
type reports struct {
	mu  sync.Mutex
	srs []rtcp.SenderReport
}

func (r *reports) WriteRTCP(pkts []rtcp.Packet) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pkts {
		if sr, ok := p.(*rtcp.SenderReport); ok {
			r.srs = append(r.srs, *sr)
		}
	}
	return 0, nil
}

func (r *reports) snapshot() []rtcp.SenderReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtcp.SenderReport(nil), r.srs...)
}

// A DownTrack sends a sender report with its first packet and then once a
// second, counting what it sent under its own SSRC and timestamps.
func TestDownTrackSendsSenderReports(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	rec, srs := &recorder{}, &reports{}
	d := attach(t, tr, rec, SubscribeOptions{})
	d.setRTCPWriter(srs)
	start := time.Now()
	seq, ts := writeFrames(t, tr, 100, 1000, 1, true)
	waitFor(t, time.Second, "first packets", func() bool { return len(rec.snapshot()) == 3 })
	got := srs.snapshot()
	if len(got) != 1 {
		t.Fatalf("%d sender reports after the first frame, want 1", len(got))
	}
	first := rec.snapshot()[0]
	if sr := got[0]; sr.SSRC != 4242 || sr.PacketCount != 1 || sr.OctetCount != 100 || sr.RTPTime != first.Timestamp {
		t.Errorf("first report %+v, want SSRC 4242, 1 packet, 100 octets, RTP time %d", sr, first.Timestamp)
	}
	if at := time.Unix(int64(got[0].NTPTime>>32)-2208988800, 0); at.Before(start.Add(-time.Second)) || at.After(time.Now()) {
		t.Errorf("first report's NTP time %v, want about %v", at, start)
	}
	for time.Since(start) < senderReportInterval+100*time.Millisecond {
		seq, ts = writeFrames(t, tr, seq, ts, 1, false)
		time.Sleep(30 * time.Millisecond)
	}
	waitFor(t, time.Second, "second report", func() bool { return len(srs.snapshot()) == 2 })
	pkts := rec.snapshot()
	sr := srs.snapshot()[1]
	if int(sr.PacketCount) > len(pkts) || sr.PacketCount < 2 || sr.OctetCount != sr.PacketCount*100 {
		t.Errorf("second report counts %d packets and %d octets; %d packets sent of 100 bytes", sr.PacketCount, sr.OctetCount, len(pkts))
	}
	if sent := pkts[sr.PacketCount-1]; sr.RTPTime != sent.Timestamp {
		t.Errorf("second report's RTP time %d, want %d, the packet it follows", sr.RTPTime, sent.Timestamp)
	}
}

// A subscriber on UDP is written on the forwarding goroutine: once WriteRTP
// of a frame's last packet returns, the frame is out. Retransmissions
// answered on another goroutine take turns with it (whichever holds the
// queue writes what the other queued), and every packet goes out whole
// (run with -race).
func TestInlineWrites(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	ready, inline := new(atomic.Bool), new(atomic.Bool)
	ready.Store(true)
	inline.Store(true)
	d := newDownTrack(tr, SubscribeOptions{QueueSize: 1024}, ready, inline)
	if err := tr.addDownTrack(d); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if _, err := d.Bind(fakeContext{ssrc: 4242, writer: rec}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.removeDownTrack(d)
		d.close()
	})

	seq, ts := uint16(1), uint32(0)
	for f := 0; f < 10; f++ {
		seq, ts = writeFrames(t, tr, seq, ts, 1, f == 0)
		if got := len(rec.snapshot()); got != 3*(f+1) {
			t.Fatalf("frame %d: %d packets out when its WriteRTP returned, want %d", f, got, 3*(f+1))
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the subscriber keeps losing the packet before its latest
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			sent := rec.snapshot()
			lost := sent[len(sent)-2].SequenceNumber
			d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{lost})}}, time.Now())
		}
	}()
	for f := 10; f < 100; f++ {
		seq, ts = writeFrames(t, tr, seq, ts, 1, false)
		time.Sleep(200 * time.Microsecond)
	}
	close(stop)
	wg.Wait() // both goroutines are out of drain: the queue is empty

	got := rec.snapshot()
	st := d.Stats()
	if uint64(len(got)) != 300+st.NACKsAnswered || st.PacketsDropped != 0 {
		t.Fatalf("%d packets out, want 300 + %d retransmissions; %d dropped", len(got), st.NACKsAnswered, st.PacketsDropped)
	}
	if st.NACKsAnswered == 0 {
		t.Fatal("no NACK answered while forwarding")
	}
	first := got[0].SequenceNumber
	for _, p := range got {
		// vp8 puts the low byte of the source sequence number in the payload;
		// the DownTrack numbers from its own start.
		if want := byte(p.SequenceNumber - first + 1); p.Payload[2] != want {
			t.Fatalf("packet seq %d carries the payload of source packet %d, want %d", p.SequenceNumber, p.Payload[2], want)
		}
	}
}

// TestKeyframeAskedAfterSilence: a video track whose packets stop for a
// while (its publisher's path was lost) and come back asks its publisher
// for a keyframe at once: its subscribers lost frames they need.
func TestKeyframeAskedAfterSilence(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	var keyframeRequests atomic.Int32
	tr.OnKeyframeRequest(func() { keyframeRequests.Add(1) })
	rec := &recorder{}
	attach(t, tr, rec, SubscribeOptions{})
	seq, ts := writeFrames(t, tr, 1, 1000, 10, true)
	if n := keyframeRequests.Load(); n != 0 {
		t.Fatalf("%d keyframe requests while the track flowed from a keyframe, want 0", n)
	}
	tr.lastPacket.Add(-int64(2 * layerActiveWindow)) // silent since its last packet
	writeFrames(t, tr, seq+30, ts+30*3000, 1, false)
	if n := keyframeRequests.Load(); n != 1 {
		t.Fatalf("%d keyframe requests when the track came back, want 1", n)
	}
}
