//go:build !race

package crossbar_test

import "time"

// The ballroom's size: OpenTok's limit of 3,000 connections, the default
// MaxConnectionsPerSession, and the default connection events limit; ten
// groups talk. .ci/run runs it so, apart from the race detector's run.
const (
	ballroomSize   = 3000
	ballroomLimit  = 500
	ballroomGroups = 10
)

// rollingClients is the size of the session a rolling restart keeps up.
const rollingClients = 30

// TestBroadcastCPU's streams and broadcast are of OpenTok's HD size; a
// player reads cpuCastFor of it.
const (
	cpuStreams = "1280x720"
	cpuCast    = "1280x720"
	cpuCastFor = 10 * time.Second
)
