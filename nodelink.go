package crossbar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/sfu"
)

// Media across nodes: a client on node B that subscribes to a stream node A
// serves gets it over a node link. A exports each of the stream's tracks
// once to B (sfu.LinkOut), however many of B's clients subscribe; B imports
// them (sfu.LinkIn) and forwards them as if they were published there. The
// links' offers, answers and requests cross the bus on each node's own
// topic. A track is named on the link by its stream id and kind.

// The kinds of node messages about links, on the receiving node's topic.
const (
	kindLinkRequest = "linkRequest" // importing to exporting node: Request
	kindLinkOffer   = "linkOffer"   // exporting to importing node: SDP
	kindLinkAnswer  = "linkAnswer"  // importing to exporting node: SDP
	kindLinkUnknown = "linkUnknown" // exporting to importing node: Request, of a track it does not have
	kindResync      = "resync"      // to a node taken for dead that came back: share your inventories
)

// importTimeout bounds the wait for a stream of another node to arrive; a
// stream the other node no longer has is refused at once (linkUnknown),
// and a link that fails ends the wait too. The first stream over a new
// link waits for its ICE and DTLS handshakes as well: on a node loaded by
// three browsers and the race detector that took 9 s.
const importTimeout = 20 * time.Second

func nodeTopic(id string) string { return "node:" + id }

// linkTrackID names a stream's track on a node link.
func linkTrackID(streamID, kind string) string { return streamID + "/" + kind }

// nodeLinks are a server's node links, by the other node's id, and the
// requests for tracks of streams that are moving here, which wait for
// them (move.go).
type nodeLinks struct {
	mu   sync.Mutex
	in   map[string]*sfu.LinkIn
	out  map[string]*sfu.LinkOut
	held []heldRequest
}

// heldRequest is a link request of node's, held until its stream's tracks
// arrive.
type heldRequest struct {
	node string
	req  sfu.LinkRequest
}

// toNode sends a message to one node, on the server's link queue.
func (srv *Server) toNode(node string, m nodeMessage) {
	m.V, m.From = clusterVersion, srv.bus.Node().ID
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	srv.linkQueue.post(func() {
		ctx, cancel := context.WithTimeout(context.Background(), busTimeout)
		defer cancel()
		if err := srv.bus.Publish(ctx, nodeTopic(node), b); err != nil {
			srv.log.Warn("cluster: link message not sent", "node", node, "kind", m.Kind, "err", err)
		}
	})
}

// linkIn returns the link that imports from node, making it on first use.
func (srv *Server) linkIn(node string) (*sfu.LinkIn, error) {
	srv.links.mu.Lock()
	defer srv.links.mu.Unlock()
	if l := srv.links.in[node]; l != nil {
		return l, nil
	}
	l, err := srv.engine.NewLinkIn(sfu.LinkInConfig{
		OnRequest:               func(r sfu.LinkRequest) { srv.toNode(node, nodeMessage{Kind: kindLinkRequest, Request: &r}) },
		OnConnectionStateChange: srv.dropLinksOnFailure(node),
	})
	if err != nil {
		return nil, fmt.Errorf("crossbar: media link from node %s: %w", node, err)
	}
	srv.links.in[node] = l
	return l, nil
}

// linkOut returns the link that exports to node, making it on first use.
func (srv *Server) linkOut(node string) (*sfu.LinkOut, error) {
	srv.links.mu.Lock()
	defer srv.links.mu.Unlock()
	if l := srv.links.out[node]; l != nil {
		return l, nil
	}
	l, err := srv.engine.NewLinkOut(sfu.LinkOutConfig{
		Lookup:                  srv.exportedTrack,
		OnOffer:                 func(sdp string) { srv.toNode(node, nodeMessage{Kind: kindLinkOffer, SDP: sdp}) },
		OnConnectionStateChange: srv.dropLinksOnFailure(node),
	})
	if err != nil {
		return nil, fmt.Errorf("crossbar: media link to node %s: %w", node, err)
	}
	srv.links.out[node] = l
	return l, nil
}

// linkMessage carries out what another node said of the links between
// them.
func (srv *Server) linkMessage(m *nodeMessage) {
	var err error
	switch m.Kind {
	case kindLinkRequest:
		if m.Request != nil && srv.arriving(m.Request.TrackID) {
			srv.links.mu.Lock()
			srv.links.held = append(srv.links.held, heldRequest{node: m.From, req: *m.Request})
			srv.links.mu.Unlock()
			return
		}
		var out *sfu.LinkOut
		if out, err = srv.linkOut(m.From); err == nil && m.Request != nil {
			err = out.Request(*m.Request)
		}
		if errors.Is(err, sfu.ErrUnknownTrack) {
			srv.toNode(m.From, nodeMessage{Kind: kindLinkUnknown, Request: m.Request})
			return // the stream ended meanwhile: not worth a warning
		}
	case kindResync:
		srv.shareInventories()
	case kindLinkUnknown:
		srv.links.mu.Lock()
		in := srv.links.in[m.From]
		srv.links.mu.Unlock()
		if in != nil && m.Request != nil {
			in.Refuse(m.Request.TrackID)
		}
	case kindLinkOffer:
		srv.links.mu.Lock()
		in := srv.links.in[m.From]
		srv.links.mu.Unlock()
		if in != nil {
			var answer string
			if answer, err = in.Answer(m.SDP); err == nil {
				srv.toNode(m.From, nodeMessage{Kind: kindLinkAnswer, SDP: answer})
			}
		}
	case kindLinkAnswer:
		srv.links.mu.Lock()
		out := srv.links.out[m.From]
		srv.links.mu.Unlock()
		if out != nil {
			err = out.SetAnswer(m.SDP)
		}
	}
	if err != nil {
		srv.log.Warn("cluster: media link", "node", m.From, "kind", m.Kind, "err", err)
	}
}

// arriving reports whether a track named as on a link is of a stream whose
// connection moved here, and which still waits for its tracks.
func (srv *Server) arriving(id string) bool {
	srv.mu.Lock()
	live := slices.Collect(maps.Values(srv.sessions))
	srv.mu.Unlock()
	for _, s := range live {
		s.mu.Lock()
		st := s.streams[strings.Split(id, "/")[0]]
		moved := st != nil && st.moved && !st.connection.remote()
		s.unlock()
		if moved {
			return true
		}
	}
	return false
}

// releaseHeld carries out the held requests for the tracks of a stream
// that arrived, or ended.
func (srv *Server) releaseHeld(streamID string) {
	srv.links.mu.Lock()
	var now []heldRequest
	srv.links.held = slices.DeleteFunc(srv.links.held, func(h heldRequest) bool {
		if strings.HasPrefix(h.req.TrackID, streamID+"/") {
			now = append(now, h)
			return true
		}
		return false
	})
	srv.links.mu.Unlock()
	for _, h := range now {
		srv.linkMessage(&nodeMessage{Kind: kindLinkRequest, From: h.node, Request: &h.req})
	}
}

// importUnless imports a track over in, unless repointed is closed first:
// its stream then comes from another node.
func importUnless(ctx context.Context, in *sfu.LinkIn, id string, repointed <-chan struct{}) (*sfu.Track, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-repointed:
			cancel()
		case <-stop:
		}
	}()
	return in.Import(ctx, id)
}

// exportedTrack returns the track of a stream this node serves, named as
// on a link, or nil.
func (srv *Server) exportedTrack(id string) *sfu.Track {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, s := range srv.sessions {
		if t := s.localTrack(id); t != nil {
			return t
		}
	}
	return nil
}

// localTrack returns the track of a stream of this node named id on a
// link, or nil.
func (s *Session) localTrack(id string) *sfu.Track {
	s.mu.Lock()
	defer s.unlock()
	for _, st := range s.streams {
		if st.connection.remote() || st.pub == nil || st.moved {
			continue
		}
		a, v := st.pub.tracks()
		switch id {
		case linkTrackID(st.id, webrtc.RTPCodecTypeAudio.String()):
			return a
		case linkTrackID(st.id, webrtc.RTPCodecTypeVideo.String()):
			return v
		}
	}
	return nil
}

// dropLinksOnFailure returns a link's state callback, which closes the
// links with node when it fails.
func (srv *Server) dropLinksOnFailure(node string) func(webrtc.PeerConnectionState) {
	return func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed {
			srv.dropLinks(node)
		}
	}
}

// linkedNodes returns the nodes this one has links with.
func (srv *Server) linkedNodes() []string {
	srv.links.mu.Lock()
	defer srv.links.mu.Unlock()
	nodes := slices.Collect(maps.Keys(srv.links.in))
	for n := range srv.links.out {
		if srv.links.in[n] == nil {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// dropLinks closes the links with a node that left or whose link failed;
// the streams imported over them end for their subscribers here.
func (srv *Server) dropLinks(node string) {
	srv.links.mu.Lock()
	in, out := srv.links.in[node], srv.links.out[node]
	delete(srv.links.in, node)
	delete(srv.links.out, node)
	srv.links.mu.Unlock()
	if in != nil {
		_ = in.Close() // its tracks end
	}
	if out != nil {
		_ = out.Close()
	}
}

// importStream brings the tracks of a stream another node serves to this
// node, once: its Publisher then holds them, as a local one would. A
// stream this node serves needs nothing.
func (s *Session) importStream(st *Stream) error {
	s.mu.Lock()
	kinds := st.remoteTracks
	s.unlock()
	return s.importTracks(context.Background(), st, kinds...)
}

// importTracks brings the tracks of the given kinds of a stream another
// node serves to this node, once, all at the same time; none for a stream
// of this node's. A stream whose connection moved to another node
// meanwhile is brought from there.
func (s *Session) importTracks(ctx context.Context, st *Stream, kinds ...string) error {
	ctx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		wg.Go(func() { errs[i] = s.importTrack(ctx, st, kind) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// importTrack brings the track of one kind of a stream another node
// serves, following the stream's connection when it moves.
func (s *Session) importTrack(ctx context.Context, st *Stream, kind string) error {
	for {
		s.mu.Lock()
		node := st.connection.node // it changes when the connection moves
		if st.repointed == nil {
			st.repointed = make(chan struct{})
		}
		repointed := st.repointed
		s.unlock()
		if node == "" {
			return nil
		}
		in, err := s.srv.linkIn(node)
		if err != nil {
			return err
		}
		t, err := importUnless(ctx, in, linkTrackID(st.id, kind), repointed)
		if err == nil {
			st.pub.attach(t)
			return nil
		}
		s.mu.Lock()
		moved := !st.gone && st.connection.node != node
		s.unlock()
		switch {
		case moved:
			continue
		case errors.Is(err, sfu.ErrUnknownTrack):
			return withCause(fmt.Errorf("%w: stream %q is gone from node %s", ErrStreamNotFound, st.id, node), err)
		default:
			return withCause(fmt.Errorf("%w: stream %q of node %s did not arrive", ErrStreamNotFound, st.id, node), err)
		}
	}
}
