package crossbar

import (
	"context"
	"encoding/json"
)

// sessionEvent is a session-monitoring callback, in OpenTok's JSON.
type sessionEvent struct {
	SessionID  string           `json:"sessionId"`
	ProjectID  string           `json:"projectId"`
	Event      string           `json:"event"`
	Reason     Reason           `json:"reason,omitempty"`
	Timestamp  int64            `json:"timestamp"` // Unix ms
	Connection *eventConnection `json:"connection,omitempty"`
	Stream     *eventStream     `json:"stream,omitempty"`
}

type eventConnection struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"createdAt"`
	Data      string `json:"data"`
}

type eventStream struct {
	ID         string          `json:"id"`
	Connection eventConnection `json:"connection"`
	CreatedAt  int64           `json:"createdAt"`
	Name       string          `json:"name"`
	VideoType  VideoType       `json:"videoType"`
}

// webhookLocked returns the callback of ev, or nil if it has none: only
// connections and streams come and go in callbacks, and only on the node
// that serves them; those of a dead node's connection are collected for
// the live node that claims them (see expireOrphanLocked).
func (s *Session) webhookLocked(ev event) *sessionEvent {
	cb := &sessionEvent{SessionID: s.info.ID, ProjectID: s.srv.cfg.APIKey, Timestamp: s.srv.cfg.Clock.Now().UnixMilli()}
	var c *Connection
	var st *Stream
	switch ev := ev.(type) {
	case connectionCreated:
		cb.Event, c = "connectionCreated", ev.c
	case connectionDestroyed:
		cb.Event, cb.Reason, c = "connectionDestroyed", ev.reason, ev.c
	case streamCreated:
		cb.Event, st = "streamCreated", ev.st
	case streamDestroyed:
		cb.Event, cb.Reason, st = "streamDestroyed", ev.reason, ev.st
	default:
		return nil
	}
	if st != nil {
		c = st.connection
		cb.Stream = &eventStream{ID: st.id, Connection: eventConnectionOf(c), CreatedAt: st.created.UnixMilli(), Name: st.name, VideoType: st.videoType}
	} else {
		ec := eventConnectionOf(c)
		cb.Connection = &ec
	}
	if c.remote() {
		if c.orphaned {
			s.orphanHooks = append(s.orphanHooks, cb)
		}
		return nil
	}
	return cb
}

func (e *sessionEvent) session() string { return e.SessionID }

func eventConnectionOf(c *Connection) eventConnection {
	return eventConnection{ID: c.id, CreatedAt: c.created.UnixMilli(), Data: c.token.Data}
}

// archiveCallback is an archive status callback: the archive as the REST
// API gives it, with event "archive". Its JSON is made as it is
// delivered, off the session's locks: the Storage's URL may take a call.
type archiveCallback struct {
	srv *Server
	a   Archive
}

func (c archiveCallback) session() string { return c.a.SessionID }

func (c archiveCallback) MarshalJSON() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), restTimeout)
	defer cancel()
	r := c.srv.restArchiveOf(ctx, c.a)
	r.Event = "archive"
	return json.Marshal(r)
}

// broadcastCallback is a broadcast status callback: the broadcast as the
// REST API gives it, with event "broadcast" (its HLS URL relative to
// Handler's prefix).
type broadcastCallback struct {
	srv *Server
	b   Broadcast
}

func (c broadcastCallback) session() string { return c.b.SessionID }

func (c broadcastCallback) MarshalJSON() ([]byte, error) {
	r := c.srv.restBroadcastOf(nil, c.b)
	r.Event = "broadcast"
	return json.Marshal(r)
}
