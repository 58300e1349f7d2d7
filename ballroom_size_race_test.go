//go:build race

package crossbar_test

// Under the race detector, which makes the storm ten times slower, a
// smaller ballroom, still well past a smaller connection events limit.
const (
	ballroomSize  = 600
	ballroomLimit = 100
)
