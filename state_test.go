package crossbar

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// Every piece of the largest state a session can have fits a message, and
// the pieces together hold every entry once, in order.
func TestSplitStateFitsMessages(t *testing.T) {
	worst := strings.Repeat("\x01", MaxConnectionData) // escaped as \u0001: six bytes each
	var conns []signaling.Connection
	for i := range 3000 {
		conns = append(conns, signaling.Connection{ID: fmt.Sprint(i), Data: worst, Role: string(RoleModerator)})
	}
	var streams []signaling.Stream
	for i := range 9 * 16 {
		streams = append(streams, signaling.Stream{ID: fmt.Sprint(i), Name: worst, VideoType: "camera"})
	}
	for _, tc := range []struct {
		name    string
		conns   []signaling.Connection
		streams []signaling.Stream
		pieces  int
	}{
		{"empty", nil, nil, 1},
		{"one", conns[:1], nil, 1},
		{"largest", conns, streams, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pieces := splitState(tc.conns, tc.streams)
			if tc.pieces != 0 && len(pieces) != tc.pieces {
				t.Fatalf("%d pieces, want %d", len(pieces), tc.pieces)
			}
			var gotConns, gotStreams int
			for i, p := range pieces {
				p.Type, p.More = signaling.TypeSessionState, true
				b, err := signaling.Encode(&p)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > signaling.MaxMessageSize {
					t.Fatalf("piece %d is %d bytes, over %d", i, len(b), signaling.MaxMessageSize)
				}
				for _, c := range p.Connections {
					if c.ID != fmt.Sprint(gotConns) {
						t.Fatalf("connection %s at %d", c.ID, gotConns)
					}
					gotConns++
				}
				for _, s := range p.Streams {
					if s.ID != fmt.Sprint(gotStreams) {
						t.Fatalf("stream %s at %d", s.ID, gotStreams)
					}
					gotStreams++
				}
			}
			if gotConns != len(tc.conns) || gotStreams != len(tc.streams) {
				t.Fatalf("pieces hold %d connections and %d streams, want %d and %d", gotConns, gotStreams, len(tc.conns), len(tc.streams))
			}
			t.Logf("%d connections, %d streams: %d pieces", gotConns, gotStreams, len(pieces))
		})
	}
}
