//go:build linux

package main

import (
	"fmt"
	"strings"
)

// scenario is one load shape.
type scenario struct {
	Name string
	// Publishers publish one stream each: audio and video, or audio only.
	Publishers int
	// Subscribers are connections that publish nothing and subscribe to
	// every stream.
	Subscribers int
	// AudioOnly streams have no video.
	AudioOnly bool
	// Mutual publishers also subscribe to every other publisher's stream
	// (a room where everyone talks).
	Mutual bool
	// Storm connects and subscribes every subscriber at once; otherwise
	// they join a few at a time.
	Storm bool
}

// scenarios are the shapes crossbar-load knows, in the order it runs them.
var scenarios = []scenario{
	{Name: "1x10", Publishers: 1, Subscribers: 10},
	{Name: "1x50", Publishers: 1, Subscribers: 50},
	{Name: "1x100", Publishers: 1, Subscribers: 100},
	{Name: "4x50", Publishers: 4, Subscribers: 50},
	{Name: "audio25", Publishers: 25, AudioOnly: true, Mutual: true},
	{Name: "storm100", Publishers: 1, Subscribers: 100, Storm: true},
}

// scenarioNamed returns a known scenario, or for a name "PxS" (such as
// "8x100", to find where the machine saturates) P audio+video publishers
// and S subscribers of every stream.
func scenarioNamed(name string) (scenario, bool) {
	for _, sc := range scenarios {
		if sc.Name == name {
			return sc, true
		}
	}
	var pubs, subs int
	if _, err := fmt.Sscanf(name, "%dx%d", &pubs, &subs); err == nil && pubs > 0 && subs > 0 && fmt.Sprintf("%dx%d", pubs, subs) == name {
		return scenario{Name: name, Publishers: pubs, Subscribers: subs}, true
	}
	return scenario{}, false
}

func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.Name
	}
	return strings.Join(names, ", ")
}

// subscribersPerStream is how many connections receive each stream.
func (sc scenario) subscribersPerStream() int {
	if sc.Mutual {
		return sc.Subscribers + sc.Publishers - 1
	}
	return sc.Subscribers
}

// receivers is how many connections subscribe to something.
func (sc scenario) receivers() int {
	if sc.Mutual {
		return sc.Subscribers + sc.Publishers
	}
	return sc.Subscribers
}

func (sc scenario) describe() string {
	media := "audio+video"
	if sc.AudioOnly {
		media = "audio"
	}
	s := fmt.Sprintf("%d %s publishers, %d subscribers", sc.Publishers, media, sc.Subscribers)
	if sc.Mutual {
		s += ", every publisher subscribed to the others"
	}
	if sc.Storm {
		s += ", all joining at once"
	}
	return s
}

// reference holds the figures of an established Go SFU measured on the same
// kind of machine (2 cores, loopback, H.264 720p, no simulcast, one UDP
// port), the targets' baseline.
type reference struct {
	PacketsPerSec  float64 // forwarded packets a second
	CPUPerPacket   float64 // server CPU µs per forwarded packet
	MinMiB, MaxMiB float64
}

var references = map[string]reference{
	"1x10":  {1746, 19.5, 81, 84},
	"1x50":  {8730, 12.1, 150, 158},
	"1x100": {17460, 10.6, 225, 251},
	"4x50":  {40372, 7.9, 229, 236},
}
