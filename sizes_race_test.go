//go:build race

package crossbar_test

import "time"

// Under the race detector, which makes the storm ten times slower, a small
// ballroom, still well past a smaller connection events limit, and three
// groups: the same paths, without starving the machine (a 600-connection
// one took two minutes of both cores in CI, and the next tests failed).
const (
	ballroomSize   = 150
	ballroomLimit  = 30
	ballroomGroups = 3
)

// rollingClients is the size of the session a rolling restart keeps up:
// each client's media under the race detector costs ten times its CPU.
const rollingClients = 9

// TestBroadcastCPU, under the race detector, whose publishers and
// composer run ten times slower (4 streams of 640x480 made 10 s of
// broadcast in 61 s): smaller streams, a shorter read.
const (
	cpuStreams = "320x240"
	cpuCast    = "640x480"
	cpuCastFor = 3 * time.Second
)
