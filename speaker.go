package crossbar

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"
)

// Active speaker detection: the host learns which stream is speaking from
// the audio levels publishers put in their packets (RFC 6464).
const (
	// speakerTick is how often the audio levels are sampled.
	speakerTick = 100 * time.Millisecond
	// speakerThreshold is the level (linear amplitude, about -40 dBov)
	// above which a stream counts as speaking.
	speakerThreshold = 0.01
	// speakerSwitchAfter is how long another stream must be the loudest
	// before it becomes the active speaker.
	speakerSwitchAfter = 400 * time.Millisecond
	// speakerSilenceAfter is how long the active speaker may stay quiet,
	// with nobody else speaking, before there is no active speaker.
	speakerSilenceAfter = 1500 * time.Millisecond
)

// speakerDetector picks the active speaker from audio levels sampled every
// speakerTick, debounced: a change of speaker needs the new one to be the
// loudest for speakerSwitchAfter; silence needs speakerSilenceAfter.
type speakerDetector struct {
	current    string // stream id of the active speaker; "" for none
	candidate  string // the loudest stream, if it is not current
	since      time.Time
	quietSince time.Time // when current went quiet; zero while it speaks
}

// update takes the levels (stream id to linear amplitude) sampled at now
// and reports whether the active speaker changed.
func (d *speakerDetector) update(levels map[string]float64, now time.Time) bool {
	loudest, top := "", speakerThreshold
	for id, l := range levels {
		if l >= top && (l > top || loudest == "" || id < loudest) {
			loudest, top = id, l
		}
	}
	if loudest == "" || loudest == d.current {
		d.candidate = ""
	} else if loudest != d.candidate {
		d.candidate, d.since = loudest, now
	}
	if d.candidate != "" && now.Sub(d.since) >= speakerSwitchAfter {
		d.current, d.candidate, d.quietSince = d.candidate, "", time.Time{}
		return true
	}
	if d.current == "" {
		return false
	}
	if levels[d.current] >= speakerThreshold {
		d.quietSince = time.Time{}
		return false
	}
	if d.quietSince.IsZero() {
		d.quietSince = now
	}
	if d.candidate == "" && now.Sub(d.quietSince) >= speakerSilenceAfter {
		d.current, d.quietSince = "", time.Time{}
		return true
	}
	return false
}

// OnActiveSpeakerChanged sets the callback run when the session's active
// speaker changes: the stream now speaking, or nil when nobody is. The
// speaker is the loudest routed stream, from the audio levels publishers
// send with their audio (browsers do); in a cluster, the node imports the
// audio of every stream other nodes serve to hear it. Changes are debounced (a new
// speaker must be the loudest for 400 ms; 1.5 s of silence ends one). A nil
// f stops the detection.
func (s *Session) OnActiveSpeakerChanged(f func(*Stream)) {
	s.mu.Lock()
	defer s.unlock()
	s.h.activeSpeaker = f
	if f != nil && s.speakerStop == nil && !s.closed {
		s.speakerStop = make(chan struct{})
		s.speakerDone = make(chan struct{})
		go s.detectSpeakers(s.speakerStop, s.speakerDone)
	}
	if f == nil {
		s.stopSpeakersLocked()
	}
}

// ActiveSpeaker returns the stream speaking now, or nil; it is only tracked
// while an OnActiveSpeakerChanged callback is set.
func (s *Session) ActiveSpeaker() *Stream {
	s.mu.Lock()
	defer s.unlock()
	return s.streams[s.speaker]
}

// stopSpeakersLocked ends the detection goroutine; the caller holds s.mu,
// and the goroutine is waited for once it is released.
func (s *Session) stopSpeakersLocked() {
	if s.speakerStop == nil {
		return
	}
	close(s.speakerStop)
	done := s.speakerDone
	s.speakerStop, s.speakerDone = nil, nil
	s.later(func() { <-done })
}

// detectSpeakers samples the streams' audio levels until stop is closed.
func (s *Session) detectSpeakers(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(speakerTick)
	defer tick.Stop()
	var d speakerDetector
	levels := map[string]float64{}
	var imports sync.WaitGroup // of remote streams' audio
	defer imports.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()             // before the wait
	heard := map[string]bool{} // remote streams whose audio was imported, or tried
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			clear(levels)
			s.mu.Lock()
			pubs := make(map[string]*Publisher, len(s.streams))
			var unheard []*Stream
			for id, st := range s.streams {
				if st.pub != nil && st.hasAudio {
					pubs[id] = st.pub
				}
				if st.pub != nil && st.connection.remote() && slices.Contains(st.remoteTracks, webrtc.RTPCodecTypeAudio.String()) && !heard[id] {
					heard[id] = true
					unheard = append(unheard, st)
				}
			}
			maps.DeleteFunc(heard, func(id string, _ bool) bool { return s.streams[id] == nil })
			s.unlock()
			for _, st := range unheard {
				imports.Go(func() { s.hear(ctx, st) })
			}
			for id, p := range pubs {
				levels[id] = p.AudioLevel()
			}
			if !d.update(levels, now) {
				continue
			}
			s.mu.Lock()
			s.speaker = d.current
			s.emitLocked(speakerChanged{s.streams[d.current]})
			s.unlock()
		}
	}
}

// hear imports the audio of a stream another node serves, for its levels:
// the active speaker is chosen among all the session's streams, whichever
// node serves them.
func (s *Session) hear(ctx context.Context, st *Stream) {
	if err := s.importTracks(ctx, st, webrtc.RTPCodecTypeAudio.String()); err != nil {
		s.log.Warn("active speaker: a stream of another node is not heard", "stream", st.id, "err", err)
	}
}
