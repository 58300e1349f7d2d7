package crossbar

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
	return s.moderateStream(streamID, kindUnpublish, ReasonForceUnpublished, func(st *Stream) {
		s.removeStreamLocked(st, ReasonForceUnpublished)
	})
}

// ForceMuteStream stops a stream's audio from reaching its subscribers; the
// stream's hasAudio becomes false and its publisher gets muteForced. The
// publisher may unmute itself.
func (s *Session) ForceMuteStream(streamID string) error {
	return s.moderateStream(streamID, kindMuteStream, "", s.forceMuteStreamLocked)
}

// moderateStream applies a moderator's action to a stream: here, with the
// session lock held, or as a command (kind, reason) to the node that
// serves it.
func (s *Session) moderateStream(streamID, kind string, reason Reason, act func(*Stream)) error {
	s.mu.Lock()
	defer s.unlock()
	st, err := s.streamLocked(streamID)
	if err != nil {
		return err
	}
	if st.connection.remote() {
		return s.commandLocked(kind, st.id, reason)
	}
	act(st)
	return nil
}

func (s *Session) forceMuteStreamLocked(st *Stream) {
	s.forceMuteLocked(st)
	s.emitLocked(muteForced{st: st, active: true})
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
	s.muteAllLocked(true, excluded, false)
	return nil
}

// DisableForceMute ends ForceMuteAll: audio flows again as soon as each
// publisher unmutes. Every connection gets muteForced with active false.
func (s *Session) DisableForceMute() error {
	s.mu.Lock()
	defer s.unlock()
	s.muteAllLocked(false, nil, false)
	return nil
}

// muteAllLocked starts (active) or ends ForceMuteAll for the streams this
// node serves; remote is set when another node asked.
func (s *Session) muteAllLocked(active bool, excluded []string, remote bool) {
	if active {
		ma := &muteAll{excluded: map[string]bool{}}
		for _, id := range excluded {
			ma.excluded[id] = true
		}
		s.muteAll = ma
	} else {
		s.muteAll = nil
	}
	for _, st := range s.streamsLocked() {
		switch {
		case st.connection.remote():
		case active && !s.muteAll.excluded[st.id]:
			s.forceMuteLocked(st)
		case !active && st.forceMuted:
			st.forceMuted = false
			s.later(func() { st.pub.setAudioMuted(false) })
		}
	}
	s.emitLocked(muteForced{active: active, excluded: excluded, remote: remote})
}
