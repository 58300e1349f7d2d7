package client

// UnroutedPackets counts the packets s received on tracks that no live
// subscription wanted.
func UnroutedPackets(s *Session) uint64 { return s.media.unrouted.Load() }

// RelayedPeerConnections counts s's peer connections with other clients.
func RelayedPeerConnections(s *Session) int {
	s.media.mu.Lock()
	defer s.media.mu.Unlock()
	return len(s.media.relays)
}
