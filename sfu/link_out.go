package sfu

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v3"
)

// LinkOutConfig configures the exporting end of a node link. Lookup and
// OnOffer are required.
type LinkOutConfig struct {
	// Lookup returns the Track of this Engine with the given id (as
	// PeerConfig.OnTrack gave it, or a local Track), or nil. It must not
	// call the LinkOut.
	Lookup func(trackID string) *Track
	// OnOffer delivers an offer for the importing node's LinkIn.Answer;
	// its answer goes to SetAnswer. It is called on its own goroutine,
	// one offer at a time: the next offer follows only after the answer
	// to the previous one.
	OnOffer func(sdp string)
	// OnConnectionStateChange reports the link's connection state; on
	// webrtc.PeerConnectionStateFailed the caller should close the link.
	OnConnectionStateChange func(webrtc.PeerConnectionState)
}

// LinkOut is the exporting end of a node link: it sends the Tracks the
// importing node asks for, each once, over one PeerConnection.
type LinkOut struct {
	cfg  LinkOutConfig
	peer *Peer // its subscribing connection is the link

	mu      sync.Mutex
	closed  bool
	exports map[string]*export
}

// export is one Track crossing the link: a DownTrack per layer.
type export struct {
	track *Track
	downs []*DownTrack // by layer
}

// NewLinkOut creates the exporting end of a node link. Its PeerConnection
// is created at the first Request: the first offer follows.
func (e *Engine) NewLinkOut(cfg LinkOutConfig) (*LinkOut, error) {
	if cfg.Lookup == nil || cfg.OnOffer == nil {
		return nil, errors.New("sfu: new link out: Lookup and OnOffer are required")
	}
	o := &LinkOut{cfg: cfg, exports: make(map[string]*export)}
	peer, err := e.NewPeer(PeerConfig{
		link:              true,
		OnSubscriberOffer: func(sdp string, _ uint64) { cfg.OnOffer(sdp) },
		OnConnectionStateChange: func(kind PCKind, s webrtc.PeerConnectionState) {
			if f := cfg.OnConnectionStateChange; f != nil && kind == PCSubscribe {
				f(s)
			}
		},
		OnSubscribeFailed: func(d *DownTrack, err error) {
			e.log.Warn("sfu: node link cannot carry a track", "track", d.track.ID(), "err", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sfu: new link out: %w", err)
	}
	o.peer = peer
	return o, nil
}

// Request applies a request of the importing node: it starts sending a
// Track (one offer follows), changes the layers sent, or stops (Layers 0).
func (o *LinkOut) Request(r LinkRequest) error {
	if err := r.validate(); err != nil {
		return err
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrLinkClosed
	}
	x := o.exports[r.TrackID]
	switch {
	case x == nil && r.Layers == 0:
		o.mu.Unlock()
		return nil
	case x == nil:
		added, err := o.exportLocked(r)
		o.mu.Unlock()
		if added != nil {
			added.track.OnClose(func() { o.forget(r.TrackID, added) })
		}
		return err
	case r.Layers == 0:
		delete(o.exports, r.TrackID)
		o.mu.Unlock()
		return o.unexport(x)
	}
	o.mu.Unlock()
	for i, d := range x.downs {
		d.SetPaused(r.Layers&(1<<i) == 0)
	}
	return nil
}

// exportLocked adds the layers of the Track asked for to the link, those
// not asked for paused. If the offer fails, the export is returned with
// the error: it stays until released. The caller holds o.mu.
func (o *LinkOut) exportLocked(r LinkRequest) (*export, error) {
	t := o.cfg.Lookup(r.TrackID)
	if t == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTrack, r.TrackID)
	}
	layers := *t.layers.Load()
	subs := make([]Subscription, len(layers))
	for i, l := range layers {
		s := linkStream{trackID: r.TrackID, streamID: t.streamID, layer: i, layers: len(layers)} // the id asked for: the importing end keys its imports by it
		if l != nil {
			s.rid = l.rid
		}
		streamID, trackID := s.msid()
		subs[i] = Subscription{Track: t, Options: SubscribeOptions{
			StreamID:  streamID,
			TrackID:   trackID,
			Paused:    r.Layers&(1<<i) == 0,
			linkLayer: uint8(i + 1),
		}}
	}
	downs, err := o.peer.SubscribeTracks(subs...)
	if errors.Is(err, ErrPeerClosed) {
		err = ErrLinkClosed
	}
	if err != nil {
		err = fmt.Errorf("sfu: export track %q: %w", r.TrackID, err)
	}
	if len(downs) == 0 {
		return nil, err
	}
	x := &export{track: t, downs: downs}
	o.exports[r.TrackID] = x
	return x, err
}

// unexport removes a Track's layers from the link.
func (o *LinkOut) unexport(x *export) error {
	var errs []error
	for _, d := range x.downs {
		if err := o.peer.Unsubscribe(d); err != nil && !errors.Is(err, ErrNotSubscribed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// forget drops an export whose Track closed; its DownTracks leave the link
// by themselves.
func (o *LinkOut) forget(id string, x *export) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exports[id] == x {
		delete(o.exports, id)
	}
}

// SetAnswer applies the importing node's answer to the latest offer.
func (o *LinkOut) SetAnswer(sdp string) error {
	err := o.peer.SetSubscriberAnswer(sdp, 0)
	if errors.Is(err, ErrPeerClosed) {
		return ErrLinkClosed
	}
	return err
}

// Close closes the link's PeerConnection and stops every export.
func (o *LinkOut) Close() error {
	o.mu.Lock()
	o.closed = true
	o.exports = make(map[string]*export)
	o.mu.Unlock()
	return o.peer.Close()
}
