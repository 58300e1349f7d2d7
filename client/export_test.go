package client

// UnroutedPackets counts the packets s received on tracks that no live
// subscription wanted.
func UnroutedPackets(s *Session) uint64 { return s.media.unrouted.Load() }
