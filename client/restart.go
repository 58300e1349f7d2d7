package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// A client whose network changes keeps its streams and subscriptions: when
// a peer connection with the server loses its path (ICE disconnected or
// failed), the client restarts ICE on it, with new credentials and the
// candidates of the network it has now, over the signaling link (resumed
// first if it dropped too). It offers the publisher PC's restart itself; for
// the subscriber PC it asks the server for an offer ("iceRestart"). It tries
// again every iceRetry until the path is back or the session ends. A client
// whose signaling link dropped and was resumed restarts ICE at once, without
// waiting for ICE to notice: a network change breaks both. So does one
// told by the server that it hears nothing from it (pathLost).

// iceRetry is how long one ICE restart is given before the next.
const iceRetry = 5 * time.Second

// watchICE restarts ICE on a routed peer connection, pc is "publisher" or
// "subscriber", whenever it loses its path.
func (s *Session) watchICE(conn *webrtc.PeerConnection, pc string) {
	conn.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		switch {
		case lostPath(st):
			s.pathLost(pc, false)
		case st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted:
			s.pathBack(pc)
		}
	})
}

// pathLost restarts ICE on the peer connection pc, whose path is lost, as
// ICE says (now false: while it says so) or the server does (now). The
// subscriber PC's subscriptions tell of the loss
// (TypeSubscriberDisconnected), and pathBack of the path's return
// (TypeSubscriberConnected).
func (s *Session) pathLost(pc string, now bool) {
	m := &s.media
	m.mu.Lock()
	first := !m.lost[pc]
	if m.lost == nil {
		m.lost = map[string]bool{}
	}
	m.lost[pc] = true
	m.mu.Unlock()
	if first && pc == signaling.PCSubscriber {
		s.tellSubscribers(TypeSubscriberDisconnected)
	}
	s.restartICE(pc, now)
}

// pathBack notes that the peer connection pc is connected.
func (s *Session) pathBack(pc string) {
	m := &s.media
	m.mu.Lock()
	lost := m.lost[pc]
	delete(m.lost, pc)
	m.mu.Unlock()
	if lost && pc == signaling.PCSubscriber {
		s.tellSubscribers(TypeSubscriberConnected)
	}
}

// tellSubscribers emits an event of type typ for every subscription.
func (s *Session) tellSubscribers(typ signaling.Type) {
	m := &s.media
	m.mu.Lock()
	var ids []string
	for id := range m.subscribers {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		s.emit(Event{Type: typ, StreamID: id})
	}
}

// restartICE starts restarting ICE on the peer connection pc, unless that
// is under way: now, if now is set; else only while it has no path.
func (s *Session) restartICE(pc string, now bool) {
	m := &s.media
	m.mu.Lock()
	if m.restarting == nil {
		m.restarting = map[string]bool{}
	}
	if m.restarting[pc] {
		m.mu.Unlock()
		return
	}
	m.restarting[pc] = true
	m.mu.Unlock()
	if !m.goTracked(func() { s.restartLoop(pc, now) }) {
		m.mu.Lock()
		delete(m.restarting, pc)
		m.mu.Unlock()
	}
}

// restartLoop restarts ICE on the peer connection pc until its path is
// back or the media side closes; the first time without asking, if now.
func (s *Session) restartLoop(pc string, now bool) {
	m := &s.media
	defer func() {
		m.mu.Lock()
		delete(m.restarting, pc)
		m.mu.Unlock()
	}()
	for {
		m.mu.Lock()
		conn, wake := m.pub, m.iceWakeLocked()
		if pc == signaling.PCSubscriber {
			conn = m.sub
		}
		closed := m.closed
		m.mu.Unlock()
		if closed || conn == nil || !(now || lostPath(conn.ICEConnectionState())) {
			return
		}
		now = false
		ctx, cancel := context.WithTimeout(context.Background(), negotiationTimeout)
		err := s.restartOnce(ctx, conn, pc)
		cancel()
		if errors.Is(err, ErrDisconnected) && s.isEnded() {
			return
		}
		timer := time.NewTimer(iceRetry)
		select {
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// lostPath reports whether a peer connection in ICE state st has no path.
func lostPath(st webrtc.ICEConnectionState) bool {
	return st == webrtc.ICEConnectionStateDisconnected || st == webrtc.ICEConnectionStateFailed
}

// restartOnce restarts ICE on the peer connection pc once.
func (s *Session) restartOnce(ctx context.Context, conn *webrtc.PeerConnection, pc string) error {
	if pc == signaling.PCSubscriber {
		_, err := s.request(ctx, &signaling.Message{Type: signaling.TypeICERestart, PC: pc})
		return err // the server's offer follows, answered as any other
	}
	m := &s.media
	m.negotiating.Lock()
	defer m.negotiating.Unlock()
	m.mu.Lock()
	tr, current := m.pubTrickle, m.pub == conn
	m.mu.Unlock()
	if !current {
		return nil // closed meanwhile
	}
	tr.hold()
	if err := s.offerPublisher(ctx, conn, &webrtc.OfferOptions{ICERestart: true}); err != nil {
		return fmt.Errorf("client: restart ICE: %w", err)
	}
	tr.start(conn.LocalDescription().SDP)
	return nil
}

// restartAfterResume restarts ICE on both peer connections with the
// server, after the signaling link was resumed, and sends again a
// subscriber answer the link lost.
func (s *Session) restartAfterResume() {
	m := &s.media
	s.resendAnswer()
	m.wakeICE()
	for _, pc := range []string{signaling.PCPublisher, signaling.PCSubscriber} {
		s.restartICE(pc, true)
	}
}

// iceWakeLocked returns the channel wakeICE closes next. The caller holds
// m.mu.
func (m *mediaState) iceWakeLocked() <-chan struct{} {
	if m.iceWake == nil {
		m.iceWake = make(chan struct{})
	}
	return m.iceWake
}

// wakeICE has the restart loops try again at once: the signaling link is
// back, or the media side is closing.
func (m *mediaState) wakeICE() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.iceWake != nil {
		close(m.iceWake)
		m.iceWake = nil
	}
}
