package sfu

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v3"
)

// LinkInConfig configures the importing end of a node link. OnRequest is
// required.
type LinkInConfig struct {
	// OnRequest delivers a request for the exporting node's
	// LinkOut.Request. It is called on the goroutine of Import or Release,
	// or on one that forwards media (layer changes), and must not block.
	OnRequest func(LinkRequest)
	// OnConnectionStateChange reports the link's connection state; on
	// webrtc.PeerConnectionStateFailed the caller should close the link.
	OnConnectionStateChange func(webrtc.PeerConnectionState)
}

// LinkIn is the importing end of a node link: it receives the Tracks it
// imports from the exporting node, each once, and makes each a Track of
// this Engine, which subscribers subscribe to as to a published one.
type LinkIn struct {
	cfg  LinkInConfig
	peer *Peer // its publishing connection is the link

	mu      sync.Mutex
	closed  bool
	imports map[string]*linkImport
	done    chan struct{} // closed by Close
}

// linkImport is one Track imported, or being imported.
type linkImport struct {
	group *Track        // the Track; nil until its first layer arrives
	ready chan struct{} // closed when group is set, or when refused
}

// NewLinkIn creates the importing end of a node link. Its PeerConnection
// is created by the first Answer.
func (e *Engine) NewLinkIn(cfg LinkInConfig) (*LinkIn, error) {
	if cfg.OnRequest == nil {
		return nil, errors.New("sfu: new link in: OnRequest is required")
	}
	l := &LinkIn{cfg: cfg, imports: make(map[string]*linkImport), done: make(chan struct{})}
	peer, err := e.NewPeer(PeerConfig{
		link: true,
		OnConnectionStateChange: func(kind PCKind, s webrtc.PeerConnectionState) {
			if f := cfg.OnConnectionStateChange; f != nil && kind == PCPublish {
				f(s)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sfu: new link in: %w", err)
	}
	peer.join = l.join
	l.peer = peer
	return l, nil
}

// Answer applies an offer of the exporting node's LinkOut and returns the
// answer for its SetAnswer.
func (l *LinkIn) Answer(offerSDP string) (answerSDP string, err error) {
	answer, err := l.peer.Publish(offerSDP)
	if errors.Is(err, ErrPeerClosed) {
		return "", ErrLinkClosed
	}
	return answer, err
}

// Import returns the Track of the exporting node with the given id, as a
// Track of this Engine. The first Import of a Track asks the exporting
// node for it and waits until its media arrives, or ctx is done; later
// ones return the same Track. The Track closes when the exporting node's
// Track ends, on Release, or when the link closes; then the next Import
// asks again.
func (l *LinkIn) Import(ctx context.Context, trackID string) (*Track, error) {
	if trackID == "" {
		return nil, fmt.Errorf("%w: no track id", ErrBadLinkRequest)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrLinkClosed
	}
	x := l.imports[trackID]
	ask := x == nil
	if ask {
		x = &linkImport{ready: make(chan struct{})}
		l.imports[trackID] = x
	}
	l.mu.Unlock()
	if ask {
		l.cfg.OnRequest(LinkRequest{TrackID: trackID, Layers: AllLayers})
	}
	select {
	case <-x.ready:
		if x.group == nil {
			return nil, fmt.Errorf("sfu: import track %q: %w", trackID, ErrUnknownTrack)
		}
		return x.group, nil
	case <-l.done:
		return nil, ErrLinkClosed
	case <-ctx.Done():
	}
	// Nothing came: forget the import, so that the next one asks again.
	l.mu.Lock()
	abandoned := l.imports[trackID] == x && x.group == nil
	if abandoned {
		delete(l.imports, trackID)
	}
	l.mu.Unlock()
	if abandoned {
		l.cfg.OnRequest(LinkRequest{TrackID: trackID})
	}
	return nil, fmt.Errorf("sfu: import track %q: %w", trackID, ctx.Err())
}

// Refuse ends an import of a track the exporting node does not have (its
// LinkOut.Request failed with ErrUnknownTrack): Import returns
// ErrUnknownTrack at once, instead of waiting for it.
func (l *LinkIn) Refuse(trackID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	x := l.imports[trackID]
	if x == nil || x.group != nil {
		return
	}
	delete(l.imports, trackID)
	close(x.ready) // without a group: refused
}

// Release stops importing a Track: it closes, its subscriptions end, and
// the exporting node is asked to stop sending it.
func (l *LinkIn) Release(trackID string) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrLinkClosed
	}
	x := l.imports[trackID]
	delete(l.imports, trackID)
	var group *Track
	if x != nil {
		group = x.group
	}
	l.mu.Unlock()
	if x == nil {
		return fmt.Errorf("sfu: release: %w: %q", ErrUnknownTrack, trackID)
	}
	l.cfg.OnRequest(LinkRequest{TrackID: trackID})
	if group != nil {
		group.Close()
	}
	return nil
}

// join is the Peer's grouping of a stream that arrived over the link: it
// names the Track after the exporting node's and makes it the Track of
// its import, or a layer of it. A stream nobody imports is closed: its
// packets are dropped until the exporting node removes it.
func (l *LinkIn) join(t *Track, remote *webrtc.TrackRemote) *Track {
	s, err := parseLinkStream(remote.StreamID(), remote.ID())
	if err != nil {
		l.peer.e.log.Warn("sfu: node link stream dropped", "err", err)
		t.Close()
		return t
	}
	t.id, t.streamID, t.rid = s.trackID, s.streamID, s.rid
	l.mu.Lock()
	defer l.mu.Unlock()
	x := l.imports[s.trackID]
	switch {
	case x == nil:
		t.Close()
		return t
	case x.group != nil:
		if x.group.addLayer(t, s.layer) {
			return x.group
		}
		t.Close()
		return t
	}
	if s.layers > 1 {
		t.makeGroup(s.layers, s.layer)
		t.OnLayerDemand(func(_ []string, active []bool) { l.demand(s.trackID, active) })
	}
	t.OnClose(func() { l.forget(s.trackID, x) })
	x.group = t
	close(x.ready)
	return t
}

// demand asks the exporting node for the layers of an imported Track that
// this Engine's subscribers want.
func (l *LinkIn) demand(trackID string, active []bool) {
	var layers uint8
	for i, on := range active {
		if on {
			layers |= 1 << i
		}
	}
	l.cfg.OnRequest(LinkRequest{TrackID: trackID, Layers: layers})
}

// forget drops an import whose Track closed.
func (l *LinkIn) forget(trackID string, x *linkImport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.imports[trackID] == x {
		delete(l.imports, trackID)
	}
}

// Close closes the link's PeerConnection: every imported Track closes,
// and Imports waiting return ErrLinkClosed.
func (l *LinkIn) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	return l.peer.Close()
}
