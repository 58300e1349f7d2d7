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
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/cluster"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// hello is the line the host process prints on stdout once it serves.
type hello struct {
	Addr    string `json:"addr"`    // HTTP address: signaling at /crossbar/ws
	Session string `json:"session"` // the routed session of the run (room 0's)
}

// node says which cluster node a host app is; the zero node is a server
// of its own.
type node struct {
	ID      string // node id, "n1" to "nN"
	Redis   string // the cluster's Redis server, host:port
	Session string // the session node n1 created; empty on n1
}

// serve runs the host app of a load run: a crossbar.Server with a routed
// session on loopback (one a room: more are made as tokens for them are
// asked), plus the endpoints the load process needs. It
// returns when its stdin closes, so it never outlives the load process.
// As a cluster node it joins the cluster on n.Redis, and creates the
// session unless n.Session names it.
func serve(n node) error {
	ctx := context.Background()
	cfg := crossbar.Config{
		APIKey:    "load",
		APISecret: "crossbar-load-secret",
		// A publisher is given up after 30 s without a word, not 5: on a
		// machine shared with other work, hundreds of clients in one
		// process may not answer the consent checks in time while
		// others join. The checks are as frequent (once a second).
		Media: sfu.Config{UDPAddr: "127.0.0.1:0", LoopbackOnly: true, PublishTimeout: 30 * time.Second},
		// The signal phase measures what the session carries, not the
		// limits that protect it.
		Signals: crossbar.SignalLimits{PerToken: -1, PerAddress: -1, Broadcast: -1},
	}
	if n.Redis != "" {
		rdb := redis.NewClient(&redis.Options{Addr: n.Redis})
		defer func() { _ = rdb.Close() }()
		bus, err := cluster.NewRedis(ctx, cluster.RedisOptions{Client: rdb, Node: cluster.Node{ID: n.ID}})
		if err != nil {
			return fmt.Errorf("node %s: join the cluster on %s: %w", n.ID, n.Redis, err)
		}
		defer func() { _ = bus.Close() }() // after the server's Close
		cfg.Cluster = bus
	}
	srv, err := crossbar.New(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	var s *crossbar.Session
	if n.Session != "" {
		s, err = srv.Session(ctx, n.Session)
	} else {
		s, err = srv.CreateSession(ctx, crossbar.SessionOptions{})
	}
	if err != nil {
		return fmt.Errorf("node %s: session: %w", n.ID, err)
	}
	rooms := &rooms{srv: srv, sessions: []*crossbar.Session{s}}
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler())
	mux.HandleFunc("GET /load/token", func(w http.ResponseWriter, r *http.Request) {
		room, err := strconv.Atoi(r.FormValue("room"))
		if err != nil || room < 0 || room > maxRooms {
			room = 0
		}
		s, err := rooms.session(r.Context(), room)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// The connection's data is its node's id: every node's stats
		// tell the streams of its own publishers from imported ones.
		token, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.Role(r.FormValue("role")), Data: n.ID})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = fmt.Fprint(w, token)
	})
	mux.HandleFunc("GET /load/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(statsOf(rooms.all(), n.ID))
	})
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)

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
	In        map[string]uint64 `json:"in"`        // packets received from this node's publishers, audio and video, by stream id
	Relayed   uint64            `json:"relayed"`   // packets received over node links (streams of other nodes' publishers)
	Forwarded uint64            `json:"forwarded"` // packets handed to subscribers' transports
	Dropped   uint64            `json:"dropped"`   // packets not forwarded: queue full, transport not ready
	Resent    uint64            `json:"resent"`    // retransmissions queued in answer to NACKs
	Skipped   uint64            `json:"skipped"`   // NACKed packets not resent (storm protection)
	VideoOff  int               `json:"videoOff"`  // video subscriptions receiving no video now (video off for quality)
	Wakeups   uint64            `json:"wakeups"`   // goroutines the host app's scheduler has run so far (each wake-up of one)
}

// maxRooms bounds the sessions a host app makes.
const maxRooms = 10_000

// rooms are the host app's sessions, room 0 first.
type rooms struct {
	srv      *crossbar.Server
	mu       sync.Mutex
	sessions []*crossbar.Session
}

// session returns room's session, creating it and those before it.
func (rs *rooms) session(ctx context.Context, room int) (*crossbar.Session, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for len(rs.sessions) <= room {
		s, err := rs.srv.CreateSession(ctx, crossbar.SessionOptions{})
		if err != nil {
			return nil, err
		}
		rs.sessions = append(rs.sessions, s)
	}
	return rs.sessions[room], nil
}

func (rs *rooms) all() []*crossbar.Session {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.sessions)
}

// statsOf sums the counters of every stream of the sessions and its
// subscribers on node id: a stream whose publisher's connection data is not
// id is another node's, imported over a node link.
func statsOf(sessions []*crossbar.Session, id string) serverStats {
	st := serverStats{In: map[string]uint64{}}
	for _, s := range sessions {
		addStats(&st, s, id)
	}
	st.Wakeups = wakeups()
	return st
}

// wakeups estimates how many times the scheduler has started running a
// goroutine made runnable (woken by a timer, a channel, the network
// poller) since the process started: the count of the runtime's
// scheduling latency histogram, which samples one in schedSampling.
func wakeups() uint64 {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n * schedSampling
}

// schedSampling is the runtime's sampling period of scheduling latencies
// (runtime.gTrackingPeriod).
const schedSampling = 8

// addStats adds the counters of session s to st.
func addStats(st *serverStats, s *crossbar.Session, id string) {
	for _, stream := range s.Streams() {
		if p := stream.Publisher(); p != nil {
			ps := p.Stats()
			in := ps.Audio.PacketsIn + ps.Video.PacketsIn
			if stream.Connection().Data() == id {
				st.In[stream.ID()] = in
			} else {
				st.Relayed += in
			}
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
}
