package crossbar

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/crossbar-rtc/crossbar/archive"
)

// Layout classes name a stream's place in a composed layout (an archive's
// or a broadcast's), as OpenTok's: a stream starts with its token's
// InitialLayoutClassList, and the host may change any stream's. Clients are
// not told of them.

// LayoutClassList returns the stream's layout classes.
func (st *Stream) LayoutClassList() []string {
	st.connection.session.mu.Lock()
	defer st.connection.session.mu.Unlock()
	return slices.Clone(st.layoutClasses)
}

// SetLayoutClassLists sets the layout classes of streams, by stream id
// (an empty list clears a stream's). It changes none if a stream is
// unknown (ErrStreamNotFound) or a list is too long (ErrInvalidOption).
func (s *Session) SetLayoutClassLists(lists map[string][]string) error {
	s.mu.Lock()
	defer s.unlock()
	streams := make(map[string]*Stream, len(lists))
	for id, classes := range lists {
		st, err := s.streamLocked(id)
		if err != nil {
			return err
		}
		if n := len(strings.Join(classes, " ")); n > MaxLayoutClasses {
			return fmt.Errorf("%w: layout class list of stream %q is %d bytes, at most %d", ErrInvalidOption, id, n, MaxLayoutClasses)
		}
		if st.connection.remote() {
			if err := s.srv.busUp(); err != nil {
				return err
			}
		}
		streams[id] = st
	}
	for _, id := range slices.Sorted(maps.Keys(lists)) {
		st := streams[id]
		if st.connection.remote() {
			// Its node keeps its record, and tells the others.
			st.layoutClasses = slices.Clone(lists[id])
			s.sendToNodes(nodeMessage{Kind: kindSetLayout, ID: id, Classes: lists[id]}, nil)
			s.emitLocked(layoutChanged{st}) // for this node's archives and broadcasts
			continue
		}
		s.setLayoutLocked(st, lists[id])
	}
	return nil
}

// setLayoutLocked sets the layout classes of a stream this node serves.
func (s *Session) setLayoutLocked(st *Stream, classes []string) {
	st.layoutClasses = slices.Clone(classes)
	s.emitLocked(layoutChanged{st})
}

// tileLocked is the stream's place in a composition (an archive's or a
// broadcast's), by its video type and layout classes: of class "focus",
// it is the large one of the layouts that have one. The caller holds the
// session's mu.
func (st *Stream) tileLocked() archive.Tile {
	return archive.Tile{Screen: st.videoType == VideoScreen, Focus: slices.Contains(st.layoutClasses, "focus")}
}

// layoutProperty names a change of layout classes between nodes.
const layoutProperty = "layoutClassList"
