package sfu

import "sync"

// Totals are an Engine's counters summed over every Track its Peers
// published and every DownTrack that sent to its Peers, the closed ones
// included: each only grows. Node links' Peers count too.
type Totals struct {
	PacketsIn, BytesIn   uint64 // received from publishers
	PacketsOut, BytesOut uint64 // forwarded to subscribers
	PacketsDropped       uint64 // not forwarded: queue full, transport not ready, evicted from the cache
	NACKsSent            uint64 // sequence numbers asked of publishers again
	NACKsReceived        uint64 // sequence numbers subscribers asked for again
	PLIsSent             uint64 // keyframe requests to publishers
	PLIsReceived         uint64 // keyframe requests (PLI, FIR) from subscribers
	LayerSwitches        uint64 // simulcast or spatial layer changes of DownTracks
	Congestions          uint64 // layers left because a subscriber's path was congested
}

// tally keeps an Engine's Totals: the Tracks and DownTracks alive, whose
// counters are read when Totals are asked for, and the sums of those that
// closed. Nothing on the packet path touches it.
type tally struct {
	mu     sync.Mutex
	live   map[counted]struct{}
	closed Totals
}

// counted is a Track or a DownTrack: its counters add to Totals.
type counted interface{ addTo(*Totals) }

func (t *Track) addTo(s *Totals)     { s.addTrack(t.layerStats()) }
func (d *DownTrack) addTo(s *Totals) { s.addDownTrack(d.Stats()) }

// add counts c from now on.
func (t *tally) add(c counted) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live == nil {
		t.live = make(map[counted]struct{})
	}
	t.live[c] = struct{}{}
}

// closedNow moves c's counters to the closed sums.
func (t *tally) closedNow(c counted) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[c]; ok {
		delete(t.live, c)
		c.addTo(&t.closed)
	}
}

// totals returns the closed sums plus the counters of those alive. A
// packet counted after its Track or DownTrack closed is left out, so that
// the sums never go down.
func (t *tally) totals() Totals {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := t.closed
	for c := range t.live {
		c.addTo(&sum)
	}
	return sum
}

func (s *Totals) addTrack(st TrackStats) {
	s.PacketsIn += st.PacketsIn
	s.BytesIn += st.BytesIn
	s.NACKsSent += st.NACKsSent
	s.PLIsSent += st.PLIsSent
}

func (s *Totals) addDownTrack(st DownTrackStats) {
	s.PacketsOut += st.PacketsOut
	s.BytesOut += st.BytesOut
	s.PacketsDropped += st.PacketsDropped
	s.NACKsReceived += st.NACKsReceived
	s.PLIsReceived += st.PLIsReceived
	s.LayerSwitches += st.LayerSwitches
	s.Congestions += st.Congestions
}

// Totals returns the engine's counters, summed over its Peers' Tracks and
// DownTracks, the closed ones included. It takes a lock and reads every
// Track and DownTrack: for a metrics scrape, not for every packet.
func (e *Engine) Totals() Totals { return e.tally.totals() }
