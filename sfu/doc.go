// Package sfu is crossbar's in-process selective forwarding unit.
//
// It knows nothing about sessions, tokens or signaling messages. An Engine
// owns the network side (one shared UDP port, optional ICE-TCP, NAT 1:1) and
// a single webrtc.API; each client connection is a Peer with two
// PeerConnections: a publishing one, on which the client offers and the
// engine answers, and a subscribing one, on which the engine offers and the
// client answers. Every published media source is a Track; every
// subscription of a Track is a DownTrack that rewrites SSRC, payload type,
// sequence numbers and timestamps so that each subscriber sees one
// continuous stream across pauses, mutes and source switches.
//
// Negotiation: the client offers on its publishing PeerConnection and
// Peer.Publish returns the answer; the engine offers on the subscribing
// PeerConnection (PeerConfig.OnSubscriberOffer) whenever subscriptions
// change, and the client's answer goes to Peer.SetSubscriberAnswer. Only one
// subscriber offer is outstanding at a time; changes made meanwhile are
// folded into the next offer. Peer.SubscribeTracks subscribes to several
// Tracks (a stream's audio and video) in one offer. The engine does not
// trickle: its SDPs carry all its candidates. Clients may trickle theirs
// with Peer.AddICECandidate.
//
// Forwarding never blocks on a subscriber: a Track hands each packet to every
// DownTrack's bounded queue. A subscriber on UDP is written on the
// forwarding goroutine, its copies batched into one sendmmsg per received
// packet; one on ICE-TCP has a writer goroutine of its own. Packets that do
// not fit are dropped and counted. Retransmissions requested by subscribers
// are served from one packet cache per Track.
//
// Congestion control: publishers get TWCC feedback stamped with the time the
// kernel received each packet, so their browsers' bandwidth estimates do
// not mistake the host's load for a congested network (twcc.go). Towards
// subscribers, each DownTrack reads congestion from its subscriber's
// receiver reports, NACKs and REMB, and picks the simulcast and temporal
// layer that fit (bwe.go), or the spatial and temporal layers of a VP9 SVC
// stream (svc.go).
//
// Node links: a LinkOut sends Tracks of one Engine to a LinkIn of another,
// over one PeerConnection, once per Track whatever the number of
// subscribers on the other side; the caller carries their signaling
// (link.go).
package sfu
