package crossbar

import "fmt"

// Moderation: what the host, and clients whose role allows it, may do to
// others' connections and streams.

// muteAll is the state of ForceMuteAll.
type muteAll struct {
	excluded map[string]bool
}

// ForceDisconnect ends a connection; everyone sees it go with reason
// forceDisconnected.
func (s *Session) ForceDisconnect(connectionID string) error {
	return s.disconnect(connectionID, ReasonForceDisconnected)
}

// ForceUnpublish ends a stream; everyone sees it go with reason
// forceUnpublished.
func (s *Session) ForceUnpublish(streamID string) error {
	s.mu.Lock()
	defer s.unlock()
	st, ok := s.streams[streamID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrStreamNotFound, streamID)
	}
	s.removeStreamLocked(st, ReasonForceUnpublished)
	return nil
}

// ForceMuteStream stops a stream's audio from reaching its subscribers; the
// stream's hasAudio becomes false and its publisher gets muteForced. The
// publisher may unmute itself.
func (s *Session) ForceMuteStream(streamID string) error {
	s.mu.Lock()
	defer s.unlock()
	st, ok := s.streams[streamID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrStreamNotFound, streamID)
	}
	s.forceMuteLocked(st)
	s.emitLocked(muteForced{st: st, active: true})
	return nil
}

func (s *Session) forceMuteLocked(st *Stream) {
	st.forceMuted = true
	s.later(func() { st.pub.setAudioMuted(true) })
	s.setPropertyLocked(st, "hasAudio", &st.hasAudio, false)
}

// ForceMuteAll mutes every stream but the excluded ones, and every stream
// published later, until DisableForceMute; publishers cannot unmute
// meanwhile. Every connection gets muteForced.
func (s *Session) ForceMuteAll(excluded ...string) error {
	s.mu.Lock()
	defer s.unlock()
	ma := &muteAll{excluded: map[string]bool{}}
	for _, id := range excluded {
		ma.excluded[id] = true
	}
	s.muteAll = ma
	for _, st := range s.streamsLocked() {
		if !ma.excluded[st.id] {
			s.forceMuteLocked(st)
		}
	}
	s.emitLocked(muteForced{active: true})
	return nil
}

// DisableForceMute ends ForceMuteAll: audio flows again as soon as each
// publisher unmutes. Every connection gets muteForced with active false.
func (s *Session) DisableForceMute() error {
	s.mu.Lock()
	defer s.unlock()
	s.muteAll = nil
	for _, st := range s.streamsLocked() {
		if st.forceMuted {
			st.forceMuted = false
			s.later(func() { st.pub.setAudioMuted(false) })
		}
	}
	s.emitLocked(muteForced{active: false})
	return nil
}
