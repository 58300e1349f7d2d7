// Package crossbar adds live video rooms to a Go web app, in the OpenTok
// architecture: no video cloud to rent.
//
// A host app creates a [Server] with its API key and secret and mounts
// [Server.Handler] on its own mux. Its sessions ([Session]: rooms) hold
// connections ([Connection]: a client's presence) and streams ([Stream]:
// published audio and video). The host decides who may do what by the
// tokens it makes ([Server.GenerateToken], with a [Role]); every client
// action is checked against its token, and the host can revoke one at any
// time ([Server.RevokeToken]).
//
// Media of routed sessions goes through an in-process Pion forwarding
// engine (package sfu); relayed sessions only carry the negotiation, and
// media flows peer to peer. The browser client, served by the handler,
// speaks OpenTok's own OT API, so an OpenTok web app moves over by changing
// its script tag; package client is the Go client, for bots, recorders,
// load tests and tests of app logic.
//
// Signaling is pluggable: [Server.ServeTransport] serves any message
// transport (package signaling documents the protocol and the contract a
// transport keeps), WebSocket being the one the handler uses; the Go client
// and the browser client connect over any transport too.
//
// Session callbacks ([Session.OnConnectionCreated], [Session.OnStreamCreated],
// [Session.OnSignal] and the others) run one at a time, in the order of the
// events, off the session's lock: a slow callback delays only later ones.
package crossbar
