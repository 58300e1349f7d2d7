package sfu

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
)

const (
	// twccInterval is how often a publisher gets TWCC feedback.
	twccInterval = 100 * time.Millisecond
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
type twccFactory struct {
	arrivals *arrivalTable
}

// NewInterceptor makes the feedback interceptor of one connection.
func (f *twccFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &twccFeedback{arrivals: f.arrivals, start: time.Now(), done: make(chan struct{})}, nil
}

// twccFeedback records the arrival of a connection's packets and sends the
// feedback every twccInterval.
type twccFeedback struct {
	interceptor.NoOp
	arrivals *arrivalTable
	start    time.Time // arrival times are recorded in µs since start

	mu       sync.Mutex
	recorder *twcc.Recorder

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// BindRTCPWriter starts sending feedback on the connection.
func (f *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	f.mu.Lock()
	f.recorder = twcc.NewRecorder(rand.Uint32())
	f.mu.Unlock()
	f.wg.Add(1)
	go f.loop(w)
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
		now := time.Now()
		at := now.UnixNano()
		if t, ok := f.arrivals.lookup(hdr.SSRC, hdr.SequenceNumber, at); ok {
			at = t
		}
		us := max(at-f.start.UnixNano(), 0) / 1000
		f.mu.Lock()
		if f.recorder != nil {
			f.recorder.Record(hdr.SSRC, ext.TransportSequence, us)
		}
		f.mu.Unlock()
		return n, a, nil
	})
}

// loop sends what was recorded every twccInterval.
func (f *twccFeedback) loop(w interceptor.RTCPWriter) {
	defer f.wg.Done()
	tick := time.NewTicker(twccInterval)
	defer tick.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-tick.C:
		}
		f.mu.Lock()
		pkts := f.recorder.BuildFeedbackPacket()
		f.mu.Unlock()
		if len(pkts) > 0 {
			// A failed write means the connection is closing; the
			// connection's state says so.
			_, _ = w.Write(pkts, nil)
		}
	}
}

// Close stops the feedback.
func (f *twccFeedback) Close() error {
	f.closeOnce.Do(func() { close(f.done) })
	f.wg.Wait()
	return nil
}
