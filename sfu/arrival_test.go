package sfu

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// rtpWithTWCC marshals an RTP packet carrying transport-wide sequence
// number tseq in one-byte header extension 5.
func rtpWithTWCC(t *testing.T, ssrc uint32, seq, tseq uint16) []byte {
	t.Helper()
	p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: ssrc}, Payload: []byte{1, 2, 3}}
	ext, err := (&rtp.TransportCCExtension{TransportSequence: tseq}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetExtension(5, ext); err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestArrivalTable(t *testing.T) {
	var a arrivalTable
	// Near a wrap of the stamp's 32 bits of microseconds.
	base := int64(1<<32-10) * 1000
	a.record(rtpWithTWCC(t, 0xdeadbeef, 7, 0), base)
	if got, ok := a.lookup(0xdeadbeef, 7, base+20_000_000); !ok || got != base {
		t.Errorf("lookup across the wrap = %d, %v; want %d", got, ok, base)
	}
	if _, ok := a.lookup(0xdeadbeef, 8, base+1000); ok {
		t.Error("found a packet never received")
	}
	if _, ok := a.lookup(0xfeedface, 7, base+1000); ok {
		t.Error("found another stream's packet")
	}
	if _, ok := a.lookup(0xdeadbeef, 7, base+maxArrivalAge+1000); ok {
		t.Error("believed a stamp older than maxArrivalAge")
	}
	if _, ok := a.lookup(0xdeadbeef, 7, base-1000); ok {
		t.Error("believed a stamp from the future")
	}

	// RTCP, STUN and DTLS datagrams are not recorded.
	rr, err := (&rtcp.ReceiverReport{SSRC: 0xdeadbeef}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	used := func() (n int) {
		for i := range a.slots {
			if a.slots[i].Load() != 0 {
				n++
			}
		}
		return n
	}
	before := used()
	for _, b := range [][]byte{rr, {0, 1, 0, 0}, {22, 254, 253}} {
		a.record(b, base)
		if used() != before {
			t.Errorf("recorded %x", b)
		}
	}
}

// twccUnderTest returns a feedback interceptor without its sending loop,
// reading packets from a list, and the table of their arrivals.
func twccUnderTest(t *testing.T) (*twccFeedback, *arrivalTable, func(packets ...[]byte)) {
	t.Helper()
	var a arrivalTable
	i, err := (&twccFactory{arrivals: &a}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	f := i.(*twccFeedback)
	f.recorder = twcc.NewRecorder(1)
	f.start -= int64(time.Second) // the tests' packets arrived before they read them
	var packets [][]byte
	info := &interceptor.StreamInfo{SSRC: 7, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: transportCCURI, ID: 5}}}
	r := f.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, attr interceptor.Attributes) (int, interceptor.Attributes, error) {
		n := copy(b, packets[0])
		packets = packets[1:]
		return n, attr, nil
	}))
	read := func(ps ...[]byte) {
		packets = ps
		buf := make([]byte, 1500)
		for range ps {
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f, &a, read
}

// TestTWCCFeedbackReportsArrivalTimes reads ten packets at once that
// arrived 20 ms apart, and checks the feedback: every packet received, 20 ms
// between arrivals. A packet the socket did not stamp counts from its read.
func TestTWCCFeedbackReportsArrivalTimes(t *testing.T) {
	f, a, read := twccUnderTest(t)
	start := time.Now().Add(-300 * time.Millisecond).UnixNano()
	var packets [][]byte
	for n := range 11 {
		b := rtpWithTWCC(t, 7, uint16(500+n), uint16(n))
		if n < 10 {
			a.record(b, start+int64(n)*20_000_000)
		}
		packets = append(packets, b)
	}
	read(packets...)

	pkts, _ := f.feedback(time.Now().Add(time.Second))
	if len(pkts) != 1 {
		t.Fatalf("%d feedback packets, want 1", len(pkts))
	}
	cc, ok := pkts[0].(*rtcp.TransportLayerCC)
	if !ok {
		t.Fatalf("feedback is a %T", pkts[0])
	}
	if cc.BaseSequenceNumber != 0 || cc.PacketStatusCount != 11 || len(cc.RecvDeltas) != 11 {
		t.Fatalf("feedback for %d packets from %d with %d deltas, want 11 from 0", cc.PacketStatusCount, cc.BaseSequenceNumber, len(cc.RecvDeltas))
	}
	for n, d := range cc.RecvDeltas[1:10] {
		if d.Delta != 20_000 {
			t.Errorf("packet %d arrived %d µs after the one before, want 20000", n+1, d.Delta)
		}
	}
	// The last one, read about 120 ms after the tenth arrived.
	if d := cc.RecvDeltas[10].Delta; d < 100_000 {
		t.Errorf("unstamped packet %d µs after the one before, want its read time", d)
	}
}

// TestTWCCFeedbackWaitsForLaggingReads checks that a packet is reported
// only after the longest lag seen between arrival and read: a packet of
// another stream that arrived before it may still be on its way.
func TestTWCCFeedbackWaitsForLaggingReads(t *testing.T) {
	f, a, read := twccUnderTest(t)
	now := time.Now()
	late := rtpWithTWCC(t, 7, 1, 0)
	a.record(late, now.Add(-100*time.Millisecond).UnixNano())
	read(late, rtpWithTWCC(t, 7, 2, 1))

	if pkts, _ := f.feedback(time.Now()); len(pkts) != 0 {
		t.Errorf("feedback %v sent while a 100 ms lag was seen", pkts)
	}
	pkts, _ := f.feedback(time.Now().Add(200 * time.Millisecond))
	if len(pkts) != 1 || pkts[0].(*rtcp.TransportLayerCC).PacketStatusCount != 2 {
		t.Fatalf("feedback %v, want one on 2 packets", pkts)
	}
}
