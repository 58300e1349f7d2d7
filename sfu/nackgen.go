package sfu

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

const (
	// seqLogSize is how many sequence numbers back a lost packet is still
	// asked for; a power of two and a multiple of 64.
	seqLogSize = 512
	// nackMaxTries bounds the NACKs sent for one lost packet: a second's
	// worth at one a tick, then it is given up for lost (libwebrtc tries
	// ten times too). Without a bound a packet the publisher no longer
	// has, or a stream that stopped after a loss, is asked for on every
	// tick for as long as the connection lasts.
	nackMaxTries = 10
)

// nackFactory makes the interceptor that asks publishers to retransmit
// the packets that did not arrive (generic NACKs, RFC 4585), on the
// engine's tick. It does what Pion's nack.GeneratorInterceptor does but
// without a goroutine and a 100 ms ticker per connection, without work
// on a tick when nothing is missing, and with a bound on the NACKs a
// packet gets.
type nackFactory struct {
	ticks *ticker
}

// NewInterceptor makes the NACK generator of one connection.
func (f *nackFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackGenerator{ticks: f.ticks, senderSSRC: rand.Uint32(), logs: map[uint32]*seqLog{}}, nil
}

// nackGenerator logs the sequence numbers of a connection's streams that
// accept NACKs and sends NACKs for the missing ones on the engine's tick.
type nackGenerator struct {
	interceptor.NoOp
	ticks      *ticker
	senderSSRC uint32

	mu      sync.Mutex
	w       interceptor.RTCPWriter // nil until bound
	logs    map[uint32]*seqLog     // by media SSRC
	missing []uint16               // scratch of tick
}

// BindRTCPWriter starts the NACKs on the connection.
func (g *nackGenerator) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	g.mu.Lock()
	g.w = w
	g.mu.Unlock()
	g.ticks.add(g)
	return w
}

// BindRemoteStream logs the sequence numbers of a stream that accepts
// NACKs.
func (g *nackGenerator) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !acceptsNACK(info) {
		return reader
	}
	log := &seqLog{}
	g.mu.Lock()
	g.logs[info.SSRC] = log
	g.mu.Unlock()
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err == nil && n >= 4 && b[0]>>6 == 2 {
			log.add(uint16(b[2])<<8 | uint16(b[3]))
		}
		return n, a, err
	})
}

// UnbindRemoteStream forgets a stream.
func (g *nackGenerator) UnbindRemoteStream(info *interceptor.StreamInfo) {
	g.mu.Lock()
	delete(g.logs, info.SSRC)
	g.mu.Unlock()
}

// tick sends NACKs for what is missing, if anything.
func (g *nackGenerator) tick(time.Time) {
	g.mu.Lock()
	var pkts []rtcp.Packet
	for ssrc, log := range g.logs {
		g.missing = log.missing(g.missing[:0])
		if len(g.missing) > 0 {
			pkts = append(pkts, &rtcp.TransportLayerNack{
				SenderSSRC: g.senderSSRC,
				MediaSSRC:  ssrc,
				Nacks:      rtcp.NackPairsFromSequenceNumbers(g.missing),
			})
		}
	}
	w := g.w
	g.mu.Unlock()
	if len(pkts) > 0 {
		// A failed write means the connection is closing; its state says so.
		_, _ = w.Write(pkts, nil)
	}
}

// Close stops the NACKs.
func (g *nackGenerator) Close() error {
	g.ticks.remove(g)
	return nil
}

// acceptsNACK reports whether a stream's codec negotiated generic NACKs.
func acceptsNACK(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// seqLog records which of a stream's last seqLogSize sequence numbers
// arrived, and how often each missing one was asked for.
type seqLog struct {
	mu       sync.Mutex
	received [seqLogSize / 64]uint64
	tries    [seqLogSize]uint8
	started  bool
	end      uint16 // the highest sequence number received
	// done: every sequence number up to done arrived or was given up.
	done uint16
}

// add records that seq arrived.
func (l *seqLog) add(seq uint16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.started, l.end, l.done = true, seq, seq
		l.set(seq)
		return
	}
	switch diff := seq - l.end; {
	case diff == 0:
		return
	case diff < 1<<15: // after end: what lies between is missing
		if diff > seqLogSize {
			l.received, l.tries = [seqLogSize / 64]uint64{}, [seqLogSize]uint8{}
		} else {
			for i := l.end + 1; i != seq; i++ {
				l.clear(i)
			}
		}
		l.end = seq
		if seq-l.done > seqLogSize {
			l.done = seq - seqLogSize
		}
	case l.end-seq >= seqLogSize: // before the log
		return
	}
	l.set(seq)
	l.advance()
}

// missing appends to out the sequence numbers to ask for now, counting a
// try for each, and returns it.
func (l *seqLog) missing(out []uint16) []uint16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == l.end {
		return out
	}
	for i := l.done + 1; i != l.end+1; i++ {
		if !l.has(i) && l.tries[i%seqLogSize] < nackMaxTries {
			l.tries[i%seqLogSize]++
			out = append(out, i)
		}
	}
	l.advance()
	return out
}

// advance moves done past what arrived or was given up.
func (l *seqLog) advance() {
	for l.done != l.end && (l.has(l.done+1) || l.tries[(l.done+1)%seqLogSize] >= nackMaxTries) {
		l.done++
	}
}

func (l *seqLog) has(seq uint16) bool {
	pos := seq % seqLogSize
	return l.received[pos/64]&(1<<(pos%64)) != 0
}

func (l *seqLog) set(seq uint16) {
	pos := seq % seqLogSize
	l.received[pos/64] |= 1 << (pos % 64)
}

// clear marks seq missing, not yet asked for.
func (l *seqLog) clear(seq uint16) {
	pos := seq % seqLogSize
	l.received[pos/64] &^= 1 << (pos % 64)
	l.tries[pos] = 0
}
