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
	// Rooms is how many sessions of this shape run side by side (0: one);
	// Publishers and Subscribers are each room's.
	Rooms int
	// Bitrate and FPS, when set, replace the -bitrate and -fps flags:
	// small rooms send what a small camera or a grid's thumbnail sends.
	Bitrate, FPS int
	// Idle stops the media once every subscription got its first packet:
	// the window measures connected participants with nothing flowing.
	Idle bool
}

// scenarios are the shapes crossbar-load knows, in the order it runs them.
var scenarios = []scenario{
	{Name: "1x10", Publishers: 1, Subscribers: 10},
	{Name: "1x50", Publishers: 1, Subscribers: 50},
	{Name: "1x100", Publishers: 1, Subscribers: 100},
	{Name: "4x50", Publishers: 4, Subscribers: 50},
	{Name: "audio25", Publishers: 25, AudioOnly: true, Mutual: true},
	{Name: "storm100", Publishers: 1, Subscribers: 100, Storm: true},
	// Many small rooms (issue 21): 1:1 calls, meetings and classes at
	// 400 kbit/s and 15 fps (3 video packets a frame, ~95 packets a
	// second with the audio), and idle participants.
	{Name: "rooms2x200", Publishers: 2, Mutual: true, Rooms: 200, Bitrate: smallBitrate, FPS: smallFPS},
	{Name: "rooms4x50", Publishers: 4, Mutual: true, Rooms: 50, Bitrate: smallBitrate, FPS: smallFPS},
	{Name: "rooms10x20", Publishers: 10, Mutual: true, Rooms: 20, Bitrate: smallBitrate, FPS: smallFPS},
	{Name: "idle", Publishers: 2, Mutual: true, Rooms: 250, Bitrate: smallBitrate, FPS: smallFPS, Idle: true},
}

// The media of a small room's publisher.
const (
	smallBitrate = 400_000
	smallFPS     = 15
)

// scenarioNamed returns a known scenario, or for a name "PxS" (such as
// "8x100", to find where the machine saturates) P audio+video publishers
// and S subscribers of every stream; for "roomsPxR" R rooms of P
// publishers who all subscribe to each other; for "idleN" N idle
// participants in rooms of 2.
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
	var rooms int
	if _, err := fmt.Sscanf(name, "rooms%dx%d", &pubs, &rooms); err == nil && pubs > 1 && rooms > 0 && fmt.Sprintf("rooms%dx%d", pubs, rooms) == name {
		return scenario{Name: name, Publishers: pubs, Mutual: true, Rooms: rooms, Bitrate: smallBitrate, FPS: smallFPS}, true
	}
	if _, err := fmt.Sscanf(name, "idle%d", &pubs); err == nil && pubs > 1 && pubs%2 == 0 && fmt.Sprintf("idle%d", pubs) == name {
		return scenario{Name: name, Publishers: 2, Mutual: true, Rooms: pubs / 2, Bitrate: smallBitrate, FPS: smallFPS, Idle: true}, true
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

// receivers is how many connections of a room subscribe to something.
func (sc scenario) receivers() int {
	if sc.Mutual {
		return sc.Subscribers + sc.Publishers
	}
	return sc.Subscribers
}

// rooms is how many sessions run side by side.
func (sc scenario) rooms() int { return max(sc.Rooms, 1) }

// participants is how many connections join, in every room.
func (sc scenario) participants() int { return sc.rooms() * (sc.Publishers + sc.Subscribers) }

// media returns the video bitrate and frame rate of the publishers: the
// scenario's, or the flags'.
func (sc scenario) media(cfg config) (bitrate, fps int) {
	bitrate, fps = cfg.bitrate, cfg.fps
	if sc.Bitrate > 0 {
		bitrate = sc.Bitrate
	}
	if sc.FPS > 0 {
		fps = sc.FPS
	}
	return bitrate, fps
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
	if sc.Rooms > 1 {
		s = fmt.Sprintf("%d rooms of %s", sc.Rooms, s)
	}
	if sc.Idle {
		s += ", media stopped after the joins"
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
