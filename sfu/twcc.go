package sfu

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	// twccMargin and twccMaxHoldBack bound how long after its arrival a
	// packet waits to be reported (see twccFeedback.feedback).
	twccMargin      = 5 * time.Millisecond
	twccMaxHoldBack = 250 * time.Millisecond
	// transportCCURI names the transport-wide sequence number extension.
	transportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)

// twccFactory makes the interceptor that sends publishers transport-wide
// congestion control feedback (TWCC), from which their browsers estimate
// the bandwidth towards the engine and pick their simulcast layers. It is
// Pion's twcc.SenderInterceptor but for one thing: a packet's arrival time
// is when the kernel received it on the engine's UDP socket (arrivalTable),
// not when it reaches the interceptor, three goroutine hand-offs later. On
// a loaded host those hand-offs add delays that vary by tens of
// milliseconds, which the publisher's delay-based estimate reads as a
// congested network: its bandwidth estimate would stay low and its upper
// layers off. Packets not seen on the UDP socket (ICE-TCP, a port range)
// are stamped when read.
//
// Each stream (audio, each simulcast layer) is read by its own goroutine,
// and on a loaded host one can lag another by tens of milliseconds. A
// feedback that covered the transport sequence numbers read so far would
// report the lagging stream's packets lost, and report them received in
// the next one: the publisher would see a loss of several percent that
// never happened (2-10 % of packets in the simulcast test on a busy host).
// So a packet is reported only once the packets that arrived before it
// have likely been read too: after the longest lag between arrival and read
// seen in the last second or two (a few milliseconds on an idle host, up to
// twccMaxHoldBack).
//
// Feedback is sent on the engine's tick (every tickInterval), and only when
// packets arrived since the last.
type twccFactory struct {
	arrivals *arrivalTable
	ticks    *ticker
}

// NewInterceptor makes the feedback interceptor of one connection.
func (f *twccFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{arrivals: f.arrivals, ticks: f.ticks, start: time.Now().UnixNano()}, nil
}

// twccFeedback records the arrival of a connection's packets and sends the
// feedback on the engine's tick.
type twccFeedback struct {
	interceptor.NoOp
	arrivals *arrivalTable
	ticks    *ticker
	start    int64 // Unix ns; arrival times are recorded in µs since start

	mu       sync.Mutex
	w        interceptor.RTCPWriter // nil until bound
	recorder *twcc.Recorder
	held     []twccArrival // read, not yet reported
	lag      [2]int64      // longest read lag (µs) this second and the last
	lagSince time.Time     // start of this second
}

// twccArrival is a packet read, waiting to be reported.
type twccArrival struct {
	ssrc uint32
	seq  uint16 // transport-wide
	us   int64  // arrival, µs since start
}

// BindRTCPWriter starts sending feedback on the connection.
func (f *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	f.mu.Lock()
	f.recorder = twcc.NewRecorder(rand.Uint32())
	f.w = w
	f.mu.Unlock()
	f.ticks.add(f)
	return w
}

// BindRemoteStream records the arrival of the stream's packets that carry
// a transport-wide sequence number.
func (f *twccFeedback) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == transportCCURI {
			id = uint8(e.ID) //nolint:gosec // extension IDs are 1-255
		}
	}
	if id == 0 {
		return reader
	}
	var hdr rtp.Header // reused: the stream is read by one goroutine
	var ext rtp.TransportCCExtension
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if _, err := hdr.Unmarshal(b[:n]); err != nil {
			return n, a, nil
		}
		v := hdr.GetExtension(id)
		if v == nil || ext.Unmarshal(v) != nil {
			return n, a, nil
		}
		now := time.Now().UnixNano()
		at := now
		if t, ok := f.arrivals.lookup(hdr.SSRC, hdr.SequenceNumber, now); ok {
			at = t
		}
		us := max(at-f.start, 0) / 1000
		f.mu.Lock()
		f.held = append(f.held, twccArrival{hdr.SSRC, ext.TransportSequence, us})
		f.lag[0] = max(f.lag[0], (now-at)/1000)
		f.mu.Unlock()
		return n, a, nil
	})
}

// tick sends the feedback due at now, if any.
func (f *twccFeedback) tick(now time.Time) {
	pkts, w := f.feedback(now)
	if len(pkts) > 0 {
		// A failed write means the connection is closing; the
		// connection's state says so.
		_, _ = w.Write(pkts, nil)
	}
}

// feedback moves the packets read that arrived long enough before now to
// the recorder, and returns the feedback on what it holds and the writer
// to send it with; nothing if no packet arrived since the last.
func (f *twccFeedback) feedback(now time.Time) ([]rtcp.Packet, interceptor.RTCPWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.held) == 0 {
		return nil, nil
	}
	holdBack := min(time.Duration(max(f.lag[0], f.lag[1]))*time.Microsecond+twccMargin, twccMaxHoldBack)
	if now.Sub(f.lagSince) >= time.Second {
		f.lag = [2]int64{0, f.lag[0]}
		f.lagSince = now
	}
	cutoff := (now.UnixNano() - int64(holdBack) - f.start) / 1000
	kept := f.held[:0]
	for _, a := range f.held {
		if a.us <= cutoff {
			f.recorder.Record(a.ssrc, a.seq, a.us)
		} else {
			kept = append(kept, a)
		}
	}
	recorded := len(f.held) - len(kept)
	f.held = kept
	if recorded == 0 {
		return nil, nil
	}
	return f.recorder.BuildFeedbackPacket(), f.w
}

// Close stops the feedback.
func (f *twccFeedback) Close() error {
	f.ticks.remove(f)
	return nil
}
