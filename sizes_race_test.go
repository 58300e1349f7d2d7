//go:build race

package crossbar_test

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
