package crossbar

import (
	"slices"
	"strings"
	"sync/atomic"
)

// commonPreference is the order in which a CommonCodec session picks the
// video codec that every connected client decodes: H.264, which phones
// decode in hardware, then VP8, then VP9. Where no codec is common, VP8.
var commonPreference = []VideoCodec{H264, VP8, VP9}

// codecVotes counts, in a CommonCodec session, the client connections and
// how many of them decode each video codec. Guarded by the session lock,
// but for choice.
type codecVotes struct {
	clients  int
	decoders map[VideoCodec]int
	choice   atomic.Value // VideoCodec: the current choice, read without the lock
}

// decodable returns the video codecs of a "connect" message's list that the
// session knows, by name or MIME type in any case. A client that declares
// none decodes VP8, which every client does.
func decodable(names []string) []VideoCodec {
	var out []VideoCodec
	for _, v := range commonPreference {
		if slices.ContainsFunc(names, func(n string) bool {
			return strings.EqualFold(strings.TrimPrefix(strings.ToLower(n), "video/"), string(v))
		}) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return []VideoCodec{VP8}
	}
	return out
}

// joinCodecsLocked counts what a new client connection decodes and makes
// the session's choice again. The caller holds s.mu.
func (s *Session) joinCodecsLocked(c *Connection) { s.voteLocked(c, 1) }

// leaveCodecsLocked forgets what a departing connection decodes and makes
// the session's choice again. The caller holds s.mu.
func (s *Session) leaveCodecsLocked(c *Connection) { s.voteLocked(c, -1) }

func (s *Session) voteLocked(c *Connection, n int) {
	if s.info.VideoCodec != CommonCodec || c.inProcess {
		return
	}
	v := &s.codecs
	if v.decoders == nil {
		v.decoders = map[VideoCodec]int{}
	}
	v.clients += n
	for _, d := range c.decodes {
		v.decoders[d] += n
	}
	choice := VP8
	for _, p := range commonPreference {
		if v.clients > 0 && v.decoders[p] == v.clients {
			choice = p
			break
		}
	}
	if old, _ := v.choice.Load().(VideoCodec); old != choice {
		v.choice.Store(choice)
		s.log.Info("video codec chosen", "codec", choice, "clients", v.clients)
	}
}

// publishVideoCodec returns the MIME type of the video codec that
// publishers starting now must send: the session's, or in a CommonCodec
// session the one every client connected now decodes ("" lets them
// choose).
func (s *Session) publishVideoCodec() string {
	if s.info.VideoCodec != CommonCodec {
		return s.info.VideoCodec.mime()
	}
	choice, ok := s.codecs.choice.Load().(VideoCodec)
	if !ok {
		choice = VP8
	}
	return choice.mime()
}
