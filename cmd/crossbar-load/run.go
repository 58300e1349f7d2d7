//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

const (
	// setupTimeout bounds starting the host app and joining everyone.
	setupTimeout = 60 * time.Second
	// joinTimeout bounds one connection's connect, publish or subscribe.
	joinTimeout = 20 * time.Second
	// joinConcurrency is how many connections join at a time outside a storm.
	joinConcurrency = 8
	// settle is the pause before reading the idle and publishers-only RSS.
	settle = 2 * time.Second
	// blockProfileRate samples one blocking event per this many ns blocked
	// (-blockprofile).
	blockProfileRate = 10_000
	// joinTimePerParticipant is added to setupTimeout for each participant.
	joinTimePerParticipant = 200 * time.Millisecond
)

// result is what one scenario measured.
type result struct {
	Scenario      string `json:"scenario"`
	Publishers    int    `json:"publishers"`
	Subscribers   int    `json:"subscribers"`
	Subscriptions int    `json:"subscriptions"`
	// Rooms is how many sessions ran side by side (omitted for one),
	// Participants how many connections joined them.
	Rooms        int `json:"rooms,omitempty"`
	Participants int `json:"participants"`
	// PublishedPerSec counts the packets the server received from the
	// publishers a second, over the window.
	PublishedPerSec float64 `json:"publishedPerSec"`
	// ForwardedPerSec counts the packets the server handed to subscribers'
	// transports a second, over the window.
	ForwardedPerSec float64 `json:"forwardedPerSec"`
	// CPUPerPacketUS is the server's CPU time (user and system) over the
	// window divided by the packets it forwarded, in microseconds.
	CPUPerPacketUS float64 `json:"cpuPerPacketUs"`
	// ServerCPU and LoadCPU are the CPU used by the host app and by the
	// load process (every client) over the window, in cores.
	ServerCPU float64 `json:"serverCpu"`
	LoadCPU   float64 `json:"loadCpu"`
	// IdleMiB is the host app's RSS before anyone joined, PublishersMiB
	// once the publishers publish, RSSMiB at the end of the window.
	IdleMiB       float64 `json:"idleMiB"`
	PublishersMiB float64 `json:"publishersMiB"`
	RSSMiB        float64 `json:"rssMiB"`
	// PerSubscriberKiB is the RSS the subscribers added, per subscribing
	// connection.
	PerSubscriberKiB float64 `json:"perSubscriberKiB"`
	// PerParticipantPct is the server's CPU over the window per
	// participant, in percent of a core; PerParticipantKiB the RSS every
	// connection added over the idle server, per connection.
	PerParticipantPct float64 `json:"perParticipantPct"`
	PerParticipantKiB float64 `json:"perParticipantKiB"`
	// WakeupsPerParticipant is how many times a second the host app's
	// scheduler ran a goroutine (a wake-up by a timer, a channel or a
	// packet) over the window, per participant.
	WakeupsPerParticipant float64 `json:"wakeupsPerParticipant,omitempty"`
	// LossPercent is the share of packets the server received from
	// publishers during the window that did not reach a subscriber.
	LossPercent   float64 `json:"lossPercent"`
	ServerDropped uint64  `json:"serverDropped"`
	// VideoOffAtEnd counts the video subscriptions receiving no video at
	// the end of the window: their bandwidth estimate turned it off.
	VideoOffAtEnd int `json:"videoOffAtEnd"`
	// ServerResent counts the retransmissions the server queued in answer
	// to subscribers' NACKs over the window, ServerSkipped the NACKed
	// packets it did not resend (already resent within an RTT, or the
	// subscriber's queue over half full).
	ServerResent  uint64 `json:"serverResent"`
	ServerSkipped uint64 `json:"serverSkipped"`
	// JoinP50MS, JoinP95MS and JoinMaxMS are the times from a subscribe
	// request to the subscription's first video packet (first audio packet
	// for audio-only streams); in a storm, from the start of the storm.
	JoinP50MS float64 `json:"joinP50Ms"`
	JoinP95MS float64 `json:"joinP95Ms"`
	JoinMaxMS float64 `json:"joinMaxMs"`
	// Nodes is how many cluster nodes served the run (omitted for one
	// server without a cluster); NodeStats has each one's figures.
	// In a cluster the server figures above (CPU, RSS, forwarded packets)
	// are sums over the nodes.
	Nodes     int          `json:"nodes,omitempty"`
	NodeStats []nodeResult `json:"nodeStats,omitempty"`
	// RelayedPerSec counts the packets the nodes received over node links
	// a second, over the window.
	RelayedPerSec float64 `json:"relayedPerSec,omitempty"`
	// LinkInCostUS and LinkOutCostUS are what a relayed packet costs the
	// receiving nodes and the sending node (CPU µs) beyond what their
	// subscribers would cost them on a server of their own: set when the
	// results hold a one-node run of the same publishers and each node's
	// subscribers (see linkCosts).
	LinkInCostUS  float64 `json:"linkInCostUs,omitempty"`
	LinkOutCostUS float64 `json:"linkOutCostUs,omitempty"`
	// CrossJoinP50MS and CrossJoinP95MS are the join times of the
	// subscriptions on another node than their publisher's.
	CrossJoinP50MS float64 `json:"crossJoinP50Ms,omitempty"`
	CrossJoinP95MS float64 `json:"crossJoinP95Ms,omitempty"`
	// RedisCPU is the CPU redis-server used over the window, in cores;
	// RedisPerSec the commands it ran a second then (heartbeats);
	// RedisPerJoin the commands per subscriber joining (connect and
	// subscribe to every stream), RedisPerSignal per broadcast signal,
	// both less the heartbeats' rate.
	RedisCPU       float64 `json:"redisCpu,omitempty"`
	RedisPerSec    float64 `json:"redisPerSec,omitempty"`
	RedisPerJoin   float64 `json:"redisPerJoin,omitempty"`
	RedisPerSignal float64 `json:"redisPerSignal,omitempty"`
	// SignalEventsPerSec is the signal events the session delivered a
	// second in the signal phase after the window (broadcasts from up to
	// 10 subscribers, on other nodes than the publishers' when there are
	// any), SignalLossPercent the share that never arrived.
	SignalEventsPerSec float64 `json:"signalEventsPerSec,omitempty"`
	SignalLossPercent  float64 `json:"signalLossPercent,omitempty"`
	// Runs is how many times the scenario ran (-count); the result is the
	// run with the median CPUPerPacketUS, and CPUPerPacketUSMin and Max
	// give the range over all runs.
	Runs              int     `json:"runs,omitempty"`
	CPUPerPacketUSMin float64 `json:"cpuPerPacketUsMin,omitempty"`
	CPUPerPacketUSMax float64 `json:"cpuPerPacketUsMax,omitempty"`
	Error             string  `json:"error,omitempty"`
}

// nodeResult is what one cluster node measured over the window.
type nodeResult struct {
	ID          string `json:"id"`
	Subscribers int    `json:"subscribers"` // subscribing connections on the node
	// CPU is the node's CPU time over the window, in cores.
	CPU             float64 `json:"cpu"`
	ForwardedPerSec float64 `json:"forwardedPerSec"`
	RelayedPerSec   float64 `json:"relayedPerSec"` // packets received over node links
	// CPUPerPacketUS is the node's CPU time over the packets it forwarded
	// to its own subscribers.
	CPUPerPacketUS float64 `json:"cpuPerPacketUs"`
	RSSMiB         float64 `json:"rssMiB"`
}

// runScenario runs one scenario against fresh host apps: one server, or a
// cluster of nodes.
func runScenario(cfg config, sc scenario, nodes int) result {
	res := result{Scenario: sc.Name, Publishers: sc.Publishers, Subscribers: sc.Subscribers,
		Subscriptions: sc.rooms() * sc.Publishers * sc.subscribersPerStream(), Participants: sc.participants()}
	if nodes > 1 {
		res.Nodes = nodes
	}
	if sc.Rooms > 1 {
		res.Rooms = sc.Rooms
		if nodes > 1 {
			res.Error = "rooms run on one server only"
			return res
		}
	}
	r := &run{cfg: cfg, sc: sc, nodes: max(nodes, 1)}
	if err := r.measure(&res); err != nil {
		res.Error = err.Error()
	}
	r.stop()
	return res
}

// run is the state of one scenario run.
type run struct {
	cfg   config
	sc    scenario
	nodes int
	api   *webrtc.API

	redis   *redisServer // with more than one node
	hosts   []*host      // the publishers' node first
	session string       // room 0's (the cluster's one session)

	cancelMedia context.CancelFunc
	mediaDone   sync.WaitGroup

	signals atomic.Uint64 // signal events the clients received

	mu         sync.Mutex
	sessions   []*client.Session
	subs       []*client.Subscriber
	joins      []time.Duration
	crossJoins []time.Duration   // of subscriptions on another node than their publisher's
	senders    []*client.Session // the signal phase's: subscribers on other nodes than the publishers', all on one server
	onNode     map[*host]int     // subscribers connected to each host
}

// host is one host app process: the server, or a node of the cluster.
type host struct {
	id    string // node id; empty for a server without a cluster
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
}

// snapshot is the counters at one end of the measuring window.
type snapshot struct {
	at         time.Time
	nodes      []nodeSnapshot // by host
	loadCPU    time.Duration
	received   uint64
	redisCalls uint64
	redisCPU   time.Duration
}

// nodeSnapshot is one host app's counters.
type nodeSnapshot struct {
	server serverStats
	cpu    time.Duration
	rss    uint64
}

// sum adds up the host apps' counters that the result gives for the
// whole: CPU, RSS, forwarded, relayed and dropped packets, answered and
// skipped NACKs, video off; In is the publishers', on their own nodes.
func (sn snapshot) sum() nodeSnapshot {
	total := nodeSnapshot{server: serverStats{In: map[string]uint64{}}}
	for _, n := range sn.nodes {
		total.cpu += n.cpu
		total.rss += n.rss
		for id, v := range n.server.In {
			total.server.In[id] += v
		}
		total.server.Forwarded += n.server.Forwarded
		total.server.Relayed += n.server.Relayed
		total.server.Dropped += n.server.Dropped
		total.server.Resent += n.server.Resent
		total.server.Skipped += n.server.Skipped
		total.server.VideoOff += n.server.VideoOff
		total.server.Wakeups += n.server.Wakeups
	}
	return total
}

func (r *run) measure(res *result) error {
	// Many participants take longer to join, a few at a time.
	timeout := setupTimeout + time.Duration(r.sc.participants())*joinTimePerParticipant
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	api, err := newClientAPI()
	if err != nil {
		return err
	}
	r.api = api
	if err := r.startHosts(ctx); err != nil {
		return err
	}
	time.Sleep(settle)
	idle, err := r.rss()
	if err != nil {
		return err
	}
	res.IdleMiB = mib(idle)

	mediaCtx, cancelMedia := context.WithCancel(context.Background())
	r.cancelMedia = cancelMedia
	streams, err := r.publish(ctx, mediaCtx)
	if err != nil {
		return err
	}
	time.Sleep(settle)
	pubRSS, err := r.rss()
	if err != nil {
		return err
	}
	res.PublishersMiB = mib(pubRSS)

	joinStart := time.Now()
	redisBefore, err := r.redisCommands(ctx)
	if err != nil {
		return err
	}
	if err := r.subscribeAll(ctx, streams); err != nil {
		return err
	}
	redisAfter, err := r.redisCommands(ctx)
	if err != nil {
		return err
	}
	joinTime := time.Since(joinStart)
	if r.sc.Idle {
		cancelMedia()
		r.mediaDone.Wait()
	}
	if len(r.joins) > 0 {
		res.JoinP50MS, res.JoinP95MS, res.JoinMaxMS = percentiles(r.joins)
	}
	if len(r.crossJoins) > 0 {
		res.CrossJoinP50MS, res.CrossJoinP95MS, _ = percentiles(r.crossJoins)
	}

	time.Sleep(r.cfg.warmup)
	profile := r.startProfile()
	a, err := r.snapshot()
	if err != nil {
		return err
	}
	time.Sleep(r.cfg.window)
	b, err := r.snapshot()
	if err != nil {
		return err
	}
	if err := profile(); err != nil {
		return err
	}
	if err := r.saveHeapProfile(ctx); err != nil {
		return err
	}

	secs := b.at.Sub(a.at).Seconds()
	sa, sb := a.sum(), b.sum()
	forwarded := since(sa.server.Forwarded, sb.server.Forwarded)
	res.ForwardedPerSec = float64(forwarded) / secs
	res.CPUPerPacketUS = perPacketUS(sb.cpu-sa.cpu, forwarded)
	res.ServerCPU = (sb.cpu - sa.cpu).Seconds() / secs
	res.LoadCPU = (b.loadCPU - a.loadCPU).Seconds() / secs
	res.RSSMiB = mib(sb.rss)
	participants := float64(r.sc.participants())
	res.PerParticipantPct = 100 * res.ServerCPU / participants
	res.PerParticipantKiB = float64(int64(sb.rss)-int64(idle)) / 1024 / participants
	res.WakeupsPerParticipant = float64(since(sa.server.Wakeups, sb.server.Wakeups)) / secs / participants
	res.PerSubscriberKiB = float64(int64(sb.rss)-int64(pubRSS)) / 1024 / float64(r.sc.rooms()*r.sc.Subscribers)
	if r.sc.Mutual {
		res.PerSubscriberKiB = float64(int64(sb.rss)-int64(idle)) / 1024 / float64(r.sc.rooms()*r.sc.receivers())
	}
	var published, expected uint64
	for id, n := range sb.server.In {
		published += n - sa.server.In[id]
		expected += (n - sa.server.In[id]) * uint64(r.sc.subscribersPerStream())
	}
	res.PublishedPerSec = float64(published) / secs
	if received := b.received - a.received; expected > received {
		res.LossPercent = 100 * float64(expected-received) / float64(expected)
	}
	res.ServerDropped = since(sa.server.Dropped, sb.server.Dropped)
	res.VideoOffAtEnd = sb.server.VideoOff
	res.ServerResent = since(sa.server.Resent, sb.server.Resent)
	res.ServerSkipped = since(sa.server.Skipped, sb.server.Skipped)
	if r.redis != nil {
		r.clusterFigures(res, a, b, float64(redisAfter-redisBefore), joinTime)
	}
	// The media figures stand without the signal phase's.
	if err := r.signalPhase(res, res.RedisPerSec); err != nil {
		log.Printf("scenario %s: signal phase: %v", r.sc.Name, err)
	}
	return nil
}

// clusterFigures sets the figures of a cluster run from the window's
// snapshots a and b, the Redis commands run while the subscribers joined
// and the time they took.
func (r *run) clusterFigures(res *result, a, b snapshot, joinCommands float64, joinTime time.Duration) {
	secs := b.at.Sub(a.at).Seconds()
	sa, sb := a.sum(), b.sum()
	res.RelayedPerSec = float64(sb.server.Relayed-sa.server.Relayed) / secs
	for i, h := range r.hosts {
		na, nb := a.nodes[i], b.nodes[i]
		fwd := nb.server.Forwarded - na.server.Forwarded
		res.NodeStats = append(res.NodeStats, nodeResult{
			ID:              h.id,
			Subscribers:     r.onNode[h],
			CPU:             (nb.cpu - na.cpu).Seconds() / secs,
			ForwardedPerSec: float64(fwd) / secs,
			RelayedPerSec:   float64(nb.server.Relayed-na.server.Relayed) / secs,
			CPUPerPacketUS:  perPacketUS(nb.cpu-na.cpu, fwd),
			RSSMiB:          mib(nb.rss),
		})
	}
	res.RedisCPU = (b.redisCPU - a.redisCPU).Seconds() / secs
	res.RedisPerSec = float64(b.redisCalls-a.redisCalls) / secs
	if n := r.sc.rooms() * r.sc.receivers(); n > 0 {
		res.RedisPerJoin = (joinCommands - res.RedisPerSec*joinTime.Seconds()) / float64(n)
	}
}

// percentiles returns the median, 95th percentile and largest of ds, in
// milliseconds; ds is not empty.
func percentiles(ds []time.Duration) (p50, p95, top float64) {
	s := slices.Sorted(slices.Values(ds))
	return ms(s[len(s)/2]), ms(s[(len(s)*95+99)/100-1]), ms(s[len(s)-1])
}

// since is what a sum of counters grew by from a to b; zero if it shrank
// (a subscription that ended took its counts along).
func since(a, b uint64) uint64 {
	if b < a {
		return 0
	}
	return b - a
}

// perPacketUS is CPU time over packets, in microseconds; zero without
// packets.
func perPacketUS(cpu time.Duration, packets uint64) float64 {
	if packets == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(packets)
}

// newClientAPI builds the webrtc.API every client connection shares:
// Pion's default codecs, NACKs and RTCP reports (as browsers send them),
// loopback IPv4 candidates only.
func newClientAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	// As webrtc.ConfigureNack, but a lost packet is asked for ten times at
	// most, as browsers do: Pion's default asks on every tick until a
	// newer packet is received, which on a stream that stopped (idle) is
	// for ever.
	generator, err := nack.NewGeneratorInterceptor(nack.GeneratorMaxNacksPerPacket(10))
	if err != nil {
		return nil, err
	}
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	reg.Add(responder)
	reg.Add(generator)
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// startHosts starts the host app, or with more than one node
// redis-server and the nodes n1 to nN: n1 creates the session and the
// others serve it too.
func (r *run) startHosts(ctx context.Context) error {
	if r.nodes == 1 {
		return r.startHost(ctx, node{})
	}
	var err error
	if r.redis, err = startRedis(ctx); err != nil {
		return err
	}
	for i := range r.nodes {
		n := node{ID: "n" + strconv.Itoa(i+1), Redis: r.redis.addr, Session: r.session}
		if err := r.startHost(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// startHost starts this program again with -serve as node n and reads its
// address.
func (r *run) startHost(ctx context.Context, n node) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-serve"}
	if r.cfg.pin {
		args = append(args, "-cpus", "0")
	}
	if r.cfg.blockProfile != "" {
		args = append(args, "-blockrate", strconv.Itoa(blockProfileRate))
	}
	if n.Redis != "" {
		args = append(args, "-node", n.ID, "-redis", n.Redis, "-session", n.Session)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start host app %s: %w", n.ID, err)
	}
	h := &host{id: n.ID, cmd: cmd, stdin: stdin}
	r.hosts = append(r.hosts, h)
	got := make(chan error, 1)
	var hi hello
	go func() { got <- json.NewDecoder(stdout).Decode(&hi) }()
	select {
	case err := <-got:
		if err != nil {
			return fmt.Errorf("host app %s: %w", n.ID, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("host app %s did not start: %w", n.ID, ctx.Err())
	}
	h.addr, r.session = hi.Addr, hi.Session
	return nil
}

// stop ends the media, every client and the host app.
func (r *run) stop() {
	if r.cancelMedia != nil {
		r.cancelMedia()
	}
	r.mediaDone.Wait()
	var wg sync.WaitGroup
	sem := make(chan struct{}, joinConcurrency)
	for _, s := range r.sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			_ = s.Disconnect()
			<-sem
		}()
	}
	wg.Wait()
	for _, h := range r.hosts {
		h.stop()
	}
	if r.redis != nil {
		r.redis.stop()
	}
}

// stop ends a host app: it exits when its stdin closes, or is killed.
func (h *host) stop() {
	_ = h.stdin.Close()
	exited := make(chan struct{})
	go func() {
		_ = h.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-exited
	}
}

// connect joins room's session on host h as a new client connection with
// the given role.
func (r *run) connect(ctx context.Context, h *host, room int, role string) (*client.Session, error) {
	token, err := h.get(ctx, "/load/token?role="+role+"&room="+strconv.Itoa(room))
	if err != nil {
		return nil, err
	}
	s, err := client.Connect(ctx, "ws://"+h.addr+"/crossbar/ws", string(token),
		&client.Options{ReconnectFor: -1, Media: client.MediaOptions{API: r.api}})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", h.name(), err)
	}
	go func() {
		for ev := range s.Events() {
			if ev.Type == signaling.TypeSignal {
				r.signals.Add(1)
			}
		}
	}()
	r.mu.Lock()
	r.sessions = append(r.sessions, s)
	r.mu.Unlock()
	return s, nil
}

// name names the host app in errors.
func (h *host) name() string {
	if h.id == "" {
		return "host app"
	}
	return "node " + h.id
}

// get fetches a path of the host app's HTTP server.
func (h *host) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: GET %s: %s: %s", h.name(), path, resp.Status, b)
	}
	return b, nil
}

// publish connects the publishers to the first host, starts their synthetic media (until
// mediaCtx ends) and returns their sessions and stream ids, by room.
func (r *run) publish(ctx, mediaCtx context.Context) ([]map[*client.Session]string, error) {
	streams := make([]map[*client.Session]string, r.sc.rooms())
	for room := range streams {
		streams[room] = map[*client.Session]string{}
	}
	bitrate, fps := r.sc.media(r.cfg)
	var mu sync.Mutex
	err := r.each(ctx, r.sc.rooms()*r.sc.Publishers, joinConcurrency, func(ctx context.Context, i int) error {
		room := i / r.sc.Publishers
		s, err := r.connect(ctx, r.hosts[0], room, "publisher")
		if err != nil {
			return err
		}
		p, err := s.Publish(ctx, client.PublishOptions{
			Name:  "load-" + strconv.Itoa(i),
			Audio: true, Video: !r.sc.AudioOnly,
			Width: 1280, Height: 720,
		})
		if err != nil {
			return err
		}
		r.mediaDone.Add(1)
		go func() {
			defer r.mediaDone.Done()
			// The synthetic VP8 picture is small; padding brings its
			// frames to the bitrate of a 720p camera.
			_ = p.Synthesize(mediaCtx, client.SynthOptions{FrameRate: fps, Bitrate: bitrate})
		}()
		if _, err := p.WaitCreated(ctx); err != nil {
			return err
		}
		mu.Lock()
		streams[room][s] = p.StreamID()
		mu.Unlock()
		return nil
	})
	return streams, err
}

// subscribeAll connects the subscribers, round robin to the hosts, and
// subscribes them, and with Mutual every publisher, to the streams of
// their room, recording join latencies.
func (r *run) subscribeAll(ctx context.Context, streams []map[*client.Session]string) error {
	type member struct {
		s    *client.Session
		room int
	}
	var publishers []member
	for room, m := range streams {
		for s := range m {
			publishers = append(publishers, member{s, room})
		}
	}
	if r.sc.Mutual {
		err := r.each(ctx, len(publishers), joinConcurrency, func(ctx context.Context, i int) error {
			s := publishers[i].s
			for other, id := range streams[publishers[i].room] {
				if other == s {
					continue
				}
				if err := r.subscribe(ctx, s, id, time.Now(), false); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	concurrency := joinConcurrency
	if r.sc.Storm {
		concurrency = r.sc.Subscribers
	}
	start := time.Now()
	r.onNode = map[*host]int{}
	return r.each(ctx, r.sc.rooms()*r.sc.Subscribers, concurrency, func(ctx context.Context, i int) error {
		h := r.hosts[i%len(r.hosts)]
		room := i / r.sc.Subscribers
		s, err := r.connect(ctx, h, room, "subscriber")
		if err != nil {
			return err
		}
		cross := h != r.hosts[0]
		r.mu.Lock()
		r.onNode[h]++
		if cross || len(r.hosts) == 1 {
			r.senders = append(r.senders, s)
		}
		r.mu.Unlock()
		for _, id := range streams[room] {
			from := time.Now()
			if r.sc.Storm {
				from = start
			}
			if err := r.subscribe(ctx, s, id, from, cross); err != nil {
				return err
			}
		}
		return nil
	})
}

// subscribe subscribes s to a stream and waits for its first video packet
// (audio for audio-only streams), recording the time since from; cross
// says s is on another node than the stream's publisher.
func (r *run) subscribe(ctx context.Context, s *client.Session, streamID string, from time.Time, cross bool) error {
	sub, err := s.Subscribe(ctx, streamID, client.SubscribeOptions{Audio: true, Video: true, QueueSize: 16})
	if err != nil {
		return err
	}
	want := webrtc.RTPCodecTypeVideo
	if r.sc.AudioOnly {
		want = webrtc.RTPCodecTypeAudio
	}
	for {
		_, kind, err := sub.ReadRTP(ctx)
		if err != nil {
			return fmt.Errorf("subscription to %s: %w", streamID, err)
		}
		if kind == want {
			break
		}
	}
	// From now on packets are only counted: the queue fills and stays full.
	took := time.Since(from)
	r.mu.Lock()
	r.joins = append(r.joins, took)
	if cross {
		r.crossJoins = append(r.crossJoins, took)
	}
	r.subs = append(r.subs, sub)
	r.mu.Unlock()
	return nil
}

// each runs f for 0..n-1, at most concurrency at a time, each within
// joinTimeout, and returns the first error.
func (r *run) each(ctx context.Context, n, concurrency int, f func(context.Context, int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, joinTimeout)
			defer cancel()
			errs[i] = f(ctx, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// snapshot reads every counter the window needs.
func (r *run) snapshot() (snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var sn snapshot
	for _, h := range r.hosts {
		var n nodeSnapshot
		b, err := h.get(ctx, "/load/stats")
		if err != nil {
			return sn, err
		}
		if err := json.Unmarshal(b, &n.server); err != nil {
			return sn, fmt.Errorf("%s: stats: %w", h.name(), err)
		}
		pid := h.cmd.Process.Pid
		if n.cpu, err = cpuTime(pid); err != nil {
			return sn, err
		}
		if n.rss, err = rss(pid); err != nil {
			return sn, err
		}
		sn.nodes = append(sn.nodes, n)
	}
	sn.at = time.Now()
	var err error
	if sn.loadCPU, err = cpuTime(os.Getpid()); err != nil {
		return sn, err
	}
	if r.redis != nil {
		if sn.redisCPU, err = cpuTime(r.redis.cmd.Process.Pid); err != nil {
			return sn, err
		}
		if sn.redisCalls, err = r.redis.commands(ctx); err != nil {
			return sn, err
		}
	}
	r.mu.Lock()
	for _, sub := range r.subs {
		st := sub.Stats()
		sn.received += st.Audio.Packets + st.Video.Packets
	}
	r.mu.Unlock()
	return sn, nil
}

// startProfile starts fetching the host apps' CPU and block profiles for
// the window when -cpuprofile or -blockprofile is set; the returned
// function waits for them and saves them.
func (r *run) startProfile() func() error {
	type profile struct{ path, prefix string }
	var profiles []profile
	if r.cfg.cpuProfile != "" {
		profiles = append(profiles, profile{"/debug/pprof/profile", r.cfg.cpuProfile})
	}
	if r.cfg.blockProfile != "" {
		profiles = append(profiles, profile{"/debug/pprof/block", r.cfg.blockProfile})
	}
	done := make(chan error, len(r.hosts)*len(profiles))
	for _, h := range r.hosts {
		for _, p := range profiles {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), r.cfg.window+30*time.Second)
				defer cancel()
				secs := int(r.cfg.window.Seconds())
				b, err := h.get(ctx, p.path+"?seconds="+strconv.Itoa(max(secs, 1)))
				if err == nil {
					err = os.WriteFile(r.profileName(p.prefix, h), b, 0o644)
				}
				done <- err
			}()
		}
	}
	return func() error {
		var errs []error
		for range cap(done) {
			errs = append(errs, <-done)
		}
		return errors.Join(errs...)
	}
}

// saveHeapProfile saves the host apps' heap profiles when -memprofile is
// set.
func (r *run) saveHeapProfile(ctx context.Context) error {
	if r.cfg.memProfile == "" {
		return nil
	}
	for _, h := range r.hosts {
		b, err := h.get(ctx, "/debug/pprof/heap")
		if err != nil {
			return err
		}
		if err := os.WriteFile(r.profileName(r.cfg.memProfile, h), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// profileName is the file of host h's profile: <prefix>-<scenario>.pprof,
// or <prefix>-<scenario>-<node>.pprof in a cluster.
func (r *run) profileName(prefix string, h *host) string {
	if h.id == "" {
		return prefix + "-" + r.sc.Name + ".pprof"
	}
	return prefix + "-" + r.sc.Name + "-" + h.id + ".pprof"
}

// rss returns the host apps' resident set sizes, summed.
func (r *run) rss() (uint64, error) {
	var total uint64
	for _, h := range r.hosts {
		n, err := rss(h.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// redisCommands returns the commands the cluster's Redis has run, or zero
// without a cluster.
func (r *run) redisCommands(ctx context.Context) (uint64, error) {
	if r.redis == nil {
		return 0, nil
	}
	return r.redis.commands(ctx)
}

// The signal phase: after the window, up to signalSenders subscribers
// (those on other nodes than the publishers' when there are any) each send
// signalsEach broadcast signals, signalRate a second (the server takes 50
// messages a second from a client), while every client counts the signals
// it receives.
const (
	signalSenders = 10
	signalsEach   = 40
	signalRate    = 40
	// signalQuiet ends the wait for the last signals.
	signalQuiet = 2 * time.Second
)

// signalPhase measures the signal events the session delivers a second
// and, with Redis, its commands per signal less redisRate, the commands a
// second it runs anyway.
func (r *run) signalPhase(res *result, redisRate float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	senders := r.senders[:min(len(r.senders), signalSenders)]
	if len(senders) == 0 {
		return nil
	}
	before, err := r.redisCommands(ctx)
	if err != nil {
		return err
	}
	got := r.signals.Load()
	start := time.Now()
	err = r.each(ctx, len(senders), len(senders), func(ctx context.Context, i int) error {
		tick := time.NewTicker(time.Second / signalRate)
		defer tick.Stop()
		for range signalsEach {
			if err := senders[i].Signal(ctx, "", "load", "x"); err != nil {
				return fmt.Errorf("signal: %w", err)
			}
			<-tick.C
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Wait for the last deliveries: until all arrived or none for a while.
	sent := uint64(len(senders) * signalsEach)
	want := got + sent*uint64(len(r.sessions))
	last, lastAt := r.signals.Load(), time.Now()
	for last < want && time.Since(lastAt) < signalQuiet {
		time.Sleep(10 * time.Millisecond) // polling the clients' counter
		if n := r.signals.Load(); n != last {
			last, lastAt = n, time.Now()
		}
	}
	after, err := r.redisCommands(ctx)
	if err != nil {
		return err
	}
	delivered := last - got
	res.SignalEventsPerSec = float64(delivered) / lastAt.Sub(start).Seconds()
	res.SignalLossPercent = 100 * float64(want-last) / float64(want-got)
	if r.redis != nil {
		res.RedisPerSignal = (float64(after-before) - redisRate*time.Since(start).Seconds()) / float64(sent)
	}
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
