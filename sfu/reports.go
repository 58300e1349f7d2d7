package sfu

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// reportInterval is how often a publishing connection reports what it
// received, as Pion and libwebrtc (for video) do.
const reportInterval = time.Second

// reportsFactory makes the interceptor that sends a publishing
// connection's receiver reports (RFC 3550: loss, jitter, the last sender
// report and the time since) on the engine's tick, every reportInterval.
// It does what Pion's report.ReceiverInterceptor does but without a
// goroutine and a ticker per connection (woken every second whether or
// not media flows), and it leaves out the streams that received nothing
// since their last report: such a report tells the publisher nothing new,
// and on an idle connection those were most of what the engine sent (an
// SRTCP packet for each stream every second). The blocks of a
// connection's streams go out in one report.
type reportsFactory struct {
	ticks *ticker
}

// NewInterceptor makes the receiver reports of one connection.
func (f *reportsFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &receiverReports{ticks: f.ticks, senderSSRC: rand.Uint32(), streams: map[uint32]*receptionStats{}}, nil
}

// receiverReports keeps the reception statistics of a connection's
// streams and reports them on the engine's tick.
type receiverReports struct {
	interceptor.NoOp
	ticks      *ticker
	senderSSRC uint32

	mu      sync.Mutex
	w       interceptor.RTCPWriter // nil until bound
	streams map[uint32]*receptionStats
	next    time.Time // when the next reports are due
}

// BindRTCPWriter starts the reports on the connection.
func (r *receiverReports) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	r.mu.Lock()
	r.w = w
	r.mu.Unlock()
	r.ticks.add(r)
	return w
}

// BindRemoteStream counts a stream's packets.
func (r *receiverReports) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	s := &receptionStats{clockRate: int64(info.ClockRate)}
	r.mu.Lock()
	r.streams[info.SSRC] = s
	r.mu.Unlock()
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err == nil && n >= 12 && b[0]>>6 == 2 {
			s.add(binary.BigEndian.Uint16(b[2:4]), binary.BigEndian.Uint32(b[4:8]), time.Now())
		}
		return n, a, err
	})
}

// UnbindRemoteStream forgets a stream.
func (r *receiverReports) UnbindRemoteStream(info *interceptor.StreamInfo) {
	r.mu.Lock()
	delete(r.streams, info.SSRC)
	r.mu.Unlock()
}

// BindRTCPReader notes the publisher's sender reports, which the
// receiver reports refer to (the publisher computes its round-trip time
// from them).
func (r *receiverReports) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err == nil {
			r.senderReports(b[:n], time.Now())
		}
		return n, a, err
	})
}

// senderReports notes the sender reports of a compound RTCP packet,
// without parsing the rest.
func (r *receiverReports) senderReports(b []byte, now time.Time) {
	for len(b) >= 4 {
		size := 4 * (int(binary.BigEndian.Uint16(b[2:4])) + 1)
		if b[0]>>6 != 2 || size > len(b) {
			return
		}
		if rtcp.PacketType(b[1]) == rtcp.TypeSenderReport && size >= 20 {
			ssrc := binary.BigEndian.Uint32(b[4:8])
			r.mu.Lock()
			s := r.streams[ssrc]
			r.mu.Unlock()
			if s != nil {
				s.senderReport(binary.BigEndian.Uint32(b[10:14]), now) // the middle 32 bits of its NTP time
			}
		}
		b = b[size:]
	}
}

// tick sends the reports when they are due, if any stream received
// something since its last.
func (r *receiverReports) tick(now time.Time) {
	r.mu.Lock()
	if r.w == nil || now.Before(r.next) {
		r.mu.Unlock()
		return
	}
	r.next = now.Add(reportInterval - tickInterval/2) // due on the tick nearest a second later
	var blocks []rtcp.ReceptionReport
	for ssrc, s := range r.streams {
		if b, ok := s.report(ssrc, now); ok {
			blocks = append(blocks, b)
		}
	}
	w := r.w
	r.mu.Unlock()
	for len(blocks) > 0 { // a report holds 31 blocks at most
		k := min(len(blocks), 31)
		// A failed write means the connection is closing; its state says so.
		_, _ = w.Write([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: r.senderSSRC, Reports: blocks[:k]}}, nil)
		blocks = blocks[k:]
	}
}

// Close stops the reports.
func (r *receiverReports) Close() error {
	r.ticks.remove(r)
	return nil
}

// receptionStats are what a receiver report says of one stream (RFC 3550
// appendix A.1, A.3 and A.8).
type receptionStats struct {
	clockRate int64

	mu           sync.Mutex
	started      bool
	start        time.Time // the first packet's arrival, the origin of arrival times
	base         uint32    // the first sequence number
	highest      uint32    // the highest sequence number, extended with its wraps
	received     uint32    // packets received
	transit      uint32    // the last packet's arrival time less its RTP timestamp, in clock units
	jitter       float64   // interarrival jitter, in clock units
	priorExp     uint32    // packets expected at the last report
	priorRecv    uint32    // packets received at the last report
	reported     bool      // a report was made
	lastReported uint32    // highest at the last report
	lastSR       uint32    // the middle of the last sender report's NTP time; 0: none
	lastSRAt     time.Time // when it arrived
}

// add counts the packet of sequence number seq and RTP timestamp ts that
// arrived at now.
func (s *receptionStats) add(seq uint16, ts uint32, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started, s.start = true, now
		s.base, s.highest, s.received = uint32(seq), uint32(seq), 1
		s.transit = s.arrival(now) - ts
		return
	}
	s.received++
	if diff := seq - uint16(s.highest); diff != 0 && diff < 1<<15 {
		s.highest += uint32(diff) // past 0xffff: one more wrap
	}
	transit := s.arrival(now) - ts
	d := float64(int32(transit - s.transit))
	if d < 0 {
		d = -d
	}
	s.transit = transit
	s.jitter += (d - s.jitter) / 16
}

// arrival returns now in the stream's clock units since its first packet.
func (s *receptionStats) arrival(now time.Time) uint32 {
	return uint32(now.Sub(s.start).Microseconds() * s.clockRate / 1e6)
}

// senderReport notes a sender report of NTP time ntp (its middle 32 bits)
// that arrived at now.
func (s *receptionStats) senderReport(ntp uint32, now time.Time) {
	s.mu.Lock()
	s.lastSR, s.lastSRAt = ntp, now
	s.mu.Unlock()
}

// report returns the stream's report block at now, and false if the
// stream received nothing new since its last one.
func (s *receptionStats) report(ssrc uint32, now time.Time) (rtcp.ReceptionReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || (s.reported && s.highest == s.lastReported) {
		return rtcp.ReceptionReport{}, false
	}
	s.reported, s.lastReported = true, s.highest
	expected := s.highest - s.base + 1
	lost := max(int64(expected)-int64(s.received), 0)
	expInterval, recvInterval := expected-s.priorExp, s.received-s.priorRecv
	s.priorExp, s.priorRecv = expected, s.received
	var fraction uint8
	if lostInterval := int64(expInterval) - int64(recvInterval); expInterval > 0 && lostInterval > 0 {
		fraction = uint8(lostInterval << 8 / int64(expInterval))
	}
	var delay uint32
	if s.lastSR != 0 {
		delay = uint32(now.Sub(s.lastSRAt).Seconds() * 65536) // in 1/65536 s
	}
	return rtcp.ReceptionReport{
		SSRC:               ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(min(lost, 0x7fffff)),
		LastSequenceNumber: s.highest,
		Jitter:             uint32(s.jitter),
		LastSenderReport:   s.lastSR,
		Delay:              delay,
	}, true
}
