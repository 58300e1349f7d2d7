//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// hello is the line the host process prints on stdout once it serves.
type hello struct {
	Addr    string `json:"addr"`    // HTTP address: signaling at /crossbar/ws
	Session string `json:"session"` // the one routed session of the run
}

// serve runs the host app of a load run: a crossbar.Server with one routed
// session on loopback, plus the endpoints the load process needs. It
// returns when its stdin closes, so it never outlives the load process.
func serve() error {
	srv, err := crossbar.New(crossbar.Config{
		APIKey:    "load",
		APISecret: "crossbar-load-secret",
		Media:     sfu.Config{UDPAddr: "127.0.0.1:0", LoopbackOnly: true},
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	s, err := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler())
	mux.HandleFunc("GET /load/token", func(w http.ResponseWriter, r *http.Request) {
		token, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.Role(r.FormValue("role"))})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = fmt.Fprint(w, token)
	})
	mux.HandleFunc("GET /load/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(statsOf(s))
	})
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(l) }()
	defer func() { _ = hs.Close() }()
	if err := json.NewEncoder(os.Stdout).Encode(hello{Addr: l.Addr().String(), Session: s.ID()}); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// serverStats are the server's packet counters, read by the load process
// at the start and the end of the measuring window.
type serverStats struct {
	In        map[string]uint64 `json:"in"`        // packets received, audio and video, by stream id
	Forwarded uint64            `json:"forwarded"` // packets handed to subscribers' transports
	Dropped   uint64            `json:"dropped"`   // packets not forwarded: queue full, transport not ready
	Resent    uint64            `json:"resent"`    // retransmissions queued in answer to NACKs
	Skipped   uint64            `json:"skipped"`   // NACKed packets not resent (storm protection)
	VideoOff  int               `json:"videoOff"`  // video subscriptions receiving no video now (video off for quality)
}

// statsOf sums the counters of every stream of s and its subscribers.
func statsOf(s *crossbar.Session) serverStats {
	st := serverStats{In: map[string]uint64{}}
	for _, stream := range s.Streams() {
		if p := stream.Publisher(); p != nil {
			ps := p.Stats()
			st.In[stream.ID()] = ps.Audio.PacketsIn + ps.Video.PacketsIn
		}
		for _, sub := range stream.Subscribers() {
			ss := sub.Stats()
			st.Forwarded += ss.Audio.PacketsOut + ss.Video.PacketsOut
			st.Dropped += ss.Audio.PacketsDropped + ss.Video.PacketsDropped
			st.Resent += ss.Audio.NACKsAnswered + ss.Video.NACKsAnswered
			st.Skipped += ss.Audio.NACKsSkipped + ss.Video.NACKsSkipped
			if stream.HasVideo() && sub.VideoLayer() < 0 {
				st.VideoOff++
			}
		}
	}
	return st
}
