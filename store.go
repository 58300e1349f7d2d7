package crossbar

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// MediaMode says how a session's media travels.
type MediaMode string

// Media modes.
const (
	// Routed media goes through the server's forwarding engine. The default.
	Routed MediaMode = "routed"
	// Relayed media goes peer to peer; the server only signals.
	Relayed MediaMode = "relayed"
)

// VideoCodec is the video codec a routed session's publishers send, so that
// every subscriber can decode every stream, as OpenTok's project setting.
type VideoCodec string

// Video codecs.
const (
	// VP8, which every browser decodes. The default.
	VP8 VideoCodec = "VP8"
	// H264 (constrained baseline), which phones decode in hardware.
	H264 VideoCodec = "H264"
	// VP9. Chromium sends it as spatial layers of one encoding (SVC).
	VP9 VideoCodec = "VP9"
	// AnyCodec lets each publisher choose: a subscriber that cannot decode
	// a stream's codec gets OpenTok's 1502 for that subscription alone.
	AnyCodec VideoCodec = "any"
	// CommonCodec is what every connected client decodes, as each declares
	// when it connects: H.264 if they all decode it, else VP8, else VP9.
	// The choice applies to connections that start publishing after it; a
	// client that joins unable to decode a stream already sent gets 1502
	// for that subscription.
	CommonCodec VideoCodec = "common"
)

// mime returns the codec's MIME type for the engine: "" for AnyCodec and
// CommonCodec (whose choice is Session.publishVideoCodec's), VP8's for a
// record without one.
func (v VideoCodec) mime() string {
	switch v {
	case AnyCodec, CommonCodec:
		return ""
	case "":
		v = VP8
	}
	return "video/" + string(v)
}

// SessionInfo is the stored, shareable part of a session: what CreateSession
// made. Live state (connections, streams) stays in the process serving it.
type SessionInfo struct {
	ID           string
	MediaMode    MediaMode
	VideoCodec   VideoCodec
	Location     string
	Metadata     map[string]string
	CreationTime time.Time
	ArchiveMode  ArchiveMode // empty in records made before archives: manual
	ArchiveName  string
	E2EE         bool // clients seal their media (SessionOptions.E2EE)
}

// Store keeps session records and token revocations. The default is in
// memory; an implementation on a shared database lets several servers accept
// each other's sessions and revocations. Methods are safe for concurrent use.
type Store interface {
	PutSession(ctx context.Context, info SessionInfo) error
	// GetSession returns ErrSessionNotFound for an unknown id.
	GetSession(ctx context.Context, id string) (SessionInfo, error)
	DeleteSession(ctx context.Context, id string) error
	ListSessions(ctx context.Context) ([]SessionInfo, error)
	// RevokeToken records a revoked token id; the record may be forgotten
	// after until, when the token has expired anyway.
	RevokeToken(ctx context.Context, tokenID string, until time.Time) error
	IsRevoked(ctx context.Context, tokenID string) (bool, error)
}

// MemoryStore is the default Store, in process memory.
type MemoryStore struct {
	mu       sync.RWMutex
	sessions map[string]SessionInfo
	revoked  map[string]time.Time
	now      func() time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sessions: map[string]SessionInfo{}, revoked: map[string]time.Time{}, now: time.Now}
}

// PutSession implements Store.
func (m *MemoryStore) PutSession(_ context.Context, info SessionInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	info.Metadata = maps.Clone(info.Metadata)
	m.sessions[info.ID] = info
	return nil
}

// GetSession implements Store.
func (m *MemoryStore) GetSession(_ context.Context, id string) (SessionInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	info, ok := m.sessions[id]
	if !ok {
		return SessionInfo{}, ErrSessionNotFound
	}
	info.Metadata = maps.Clone(info.Metadata)
	return info, nil
}

// DeleteSession implements Store.
func (m *MemoryStore) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}

// ListSessions implements Store, oldest first.
func (m *MemoryStore) ListSessions(_ context.Context) ([]SessionInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	list := slices.Collect(maps.Values(m.sessions))
	slices.SortFunc(list, func(a, b SessionInfo) int { return a.CreationTime.Compare(b.CreationTime) })
	return list, nil
}

// RevokeToken implements Store. Expired records are pruned as new ones come.
func (m *MemoryStore) RevokeToken(_ context.Context, tokenID string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for id, u := range m.revoked {
		if now.After(u) {
			delete(m.revoked, id)
		}
	}
	m.revoked[tokenID] = until
	return nil
}

// IsRevoked implements Store.
func (m *MemoryStore) IsRevoked(_ context.Context, tokenID string) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.revoked[tokenID]
	return ok, nil
}
