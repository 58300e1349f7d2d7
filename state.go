package crossbar

import (
	"encoding/json"
	"slices"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// statePiece bounds the connections and streams one message of a joining
// client's initial state carries, in encoded bytes: well under
// signaling.MaxMessageSize, whatever the session's size.
const statePiece = 64 << 10

// stateLocked returns what a joining connection c is told of the session:
// every stream, and connections, oldest first: all of them, or, for a
// client that does not listen or a quiet connection, itself and those that
// publish (whose streams name them). The caller holds s.mu.
func (s *Session) stateLocked(c *Connection) ([]signaling.Connection, []signaling.Stream) {
	var streams []signaling.Stream
	var conns []*Connection
	seen := map[*Connection]bool{c: true}
	for _, st := range s.streamsLocked() {
		streams = append(streams, st.describe())
		if !seen[st.connection] {
			seen[st.connection] = true
			conns = append(conns, st.connection)
		}
	}
	if c.listens && !c.quiet {
		conns = s.connectionsLocked()
	} else {
		conns = append(conns, c)
		slices.SortFunc(conns, func(a, b *Connection) int { return a.created.Compare(b.created) })
	}
	list := make([]signaling.Connection, len(conns))
	for i, o := range conns {
		list[i] = o.describe()
	}
	return list, streams
}

// splitState cuts connections and streams into pieces of at most
// statePiece encoded bytes each (an item is never split). There is always
// at least one piece, perhaps empty.
func splitState(conns []signaling.Connection, streams []signaling.Stream) []signaling.Message {
	pieces := []signaling.Message{{}}
	size := 0
	fits := func(item any) *signaling.Message {
		b, _ := json.Marshal(item) // plain structs of strings and numbers
		if size > 0 && size+len(b)+1 > statePiece {
			pieces = append(pieces, signaling.Message{})
			size = 0
		}
		size += len(b) + 1
		return &pieces[len(pieces)-1]
	}
	for _, c := range conns {
		p := fits(c)
		p.Connections = append(p.Connections, c)
	}
	for _, st := range streams {
		p := fits(st)
		p.Streams = append(p.Streams, st)
	}
	return pieces
}
