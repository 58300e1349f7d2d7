package crossbar_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// The ballroom across nodes (issue 15): one session of 3,000 connections
// spread over three nodes, joining in a storm, while small groups talk
// within themselves across the nodes.
const (
	ballroomNodes     = 3
	ballroomGroupSize = 4
	stormConcurrency  = 50 // joins under way at once
)

// ballroomData is the connection data of joiner i: its index, padded to
// the largest data a token carries.
func ballroomData(i int) string {
	return fmt.Sprintf("%-*d", crossbar.MaxConnectionData, i)
}

// ballroomIndex returns the joiner index of connection data, or -1.
func ballroomIndex(data string) int {
	i, err := strconv.Atoi(strings.TrimSpace(data))
	if err != nil {
		return -1
	}
	return i
}

// listener is a client that joined before the storm and listens: it
// counts the messages it gets, and the connectionCreated of joiners from
// index quietFrom on, which must not come.
type listener struct {
	c                       *client.Session
	messages, created, late atomic.Int64
}

func listen(c *client.Session, quietFrom int) *listener {
	l := &listener{c: c}
	go func() {
		for ev := range c.Events() { // closed by Disconnect, at cleanup
			l.messages.Add(1)
			if ev.Type == signaling.TypeConnectionCreated {
				l.created.Add(1)
				if ev.Connection != nil && ballroomIndex(ev.Connection.Data) >= quietFrom {
					l.late.Add(1)
				}
			}
		}
	}()
	return l
}

// talker is a member of a group: it publishes audio and subscribes to the
// others of its group; got counts the packets of each subscription.
type talker struct {
	c   *client.Session
	pub *client.Publisher
	got []*received
}

// received counts the audio packets of a subscription, and the highest
// RTP sequence number among them, extended past wraps: the packets sent
// between two readings are the difference of seq, those lost that less
// the difference of n.
type received struct {
	n, seq atomic.Int64
}

func (r *received) add(seq uint16) {
	last := r.seq.Load()
	if r.n.Add(1) == 1 {
		r.seq.Store(int64(seq))
		return
	}
	if d := int64(int16(seq - uint16(last))); d > 0 {
		r.seq.Store(last + d)
	}
}

// startGroups connects the groups' members, member j of group g on node
// (g*size+j) mod nodes, publishing synthetic audio until the test ends,
// and subscribes each to the others of its group, counting packets.
func startGroups(t *testing.T, ctx context.Context, nodes []*node, s *crossbar.Session, groups, size int) [][]*talker {
	t.Helper()
	var readers sync.WaitGroup
	t.Cleanup(readers.Wait) // after the clients' Disconnect ends ReadRTP
	all := make([][]*talker, groups)
	for g := range all {
		for j := range size {
			n := nodes[(g*size+j)%len(nodes)]
			c := n.connect(s, crossbar.RolePublisher, fmt.Sprintf("group %d member %d", g, j))
			pub, err := c.Publish(ctx, client.PublishOptions{Name: fmt.Sprint("group ", g), Audio: true})
			if err != nil {
				t.Fatalf("group %d member %d publishing: %v", g, j, err)
			}
			synthCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- pub.Synthesize(synthCtx, client.SynthOptions{}) }()
			t.Cleanup(func() {
				stop()
				<-done
			})
			all[g] = append(all[g], &talker{c: c, pub: pub})
		}
	}
	for g, members := range all {
		for _, m := range members {
			for _, o := range members {
				if o == m {
					continue
				}
				id := o.pub.StreamID()
				waitFor(t, 20*time.Second, "a group's stream on another node", func() bool {
					return slices.ContainsFunc(m.c.Streams(), func(st signaling.Stream) bool { return st.ID == id })
				})
				sub, err := m.c.Subscribe(ctx, id, client.SubscribeOptions{Audio: true})
				if err != nil {
					t.Fatalf("group %d: subscribing: %v", g, err)
				}
				r := new(received)
				m.got = append(m.got, r)
				readers.Go(func() {
					for {
						if pkt, kind, err := sub.ReadRTP(ctx); err != nil {
							return
						} else if kind == webrtc.RTPCodecTypeAudio {
							r.add(pkt.SequenceNumber)
						}
					}
				})
			}
		}
	}
	return all
}

// packets returns the packet count of every subscription of the groups,
// and their highest sequence numbers.
func packets(groups [][]*talker) (n, seq []int64) {
	for _, members := range groups {
		for _, m := range members {
			for _, r := range m.got {
				n, seq = append(n, r.n.Load()), append(seq, r.seq.Load())
			}
		}
	}
	return n, seq
}

// waitPackets waits until every subscription got at least more packets
// than in since.
func waitPackets(t *testing.T, groups [][]*talker, since []int64, more int64, what string) {
	t.Helper()
	waitFor(t, 30*time.Second, what, func() bool {
		got, _ := packets(groups)
		for i, n := range got {
			if n-since[i] < more {
				return false
			}
		}
		return true
	})
}

// storm joins the clients whose tokens are given, tokens[i] on node i mod
// nodes, stormConcurrency at a time, and returns them and how long each
// connect call took.
func storm(t *testing.T, nodes []*node, tokens []string) ([]*client.Session, []time.Duration) {
	t.Helper()
	clients := make([]*client.Session, len(tokens))
	took := make([]time.Duration, len(tokens))
	errs := make([]error, len(tokens))
	next := make(chan int)
	var wg sync.WaitGroup
	for range stormConcurrency {
		wg.Go(func() {
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				start := time.Now()
				clients[i], errs[i] = client.Connect(ctx, nodes[i%len(nodes)].ws, tokens[i], nil)
				took[i] = time.Since(start)
				cancel()
			}
		})
	}
	for i := range tokens {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Cleanup(func() { disconnectAll(clients) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("join %d on node %d: %v", i, i%len(nodes)+1, err)
		}
	}
	return clients, took
}

// disconnectAll disconnects clients, stormConcurrency at a time.
func disconnectAll(clients []*client.Session) {
	next := make(chan *client.Session)
	var wg sync.WaitGroup
	for range stormConcurrency {
		wg.Go(func() {
			for c := range next {
				_ = c.Disconnect() // the test is over: a failed goodbye is fine
			}
		})
	}
	for _, c := range clients {
		if c != nil {
			next <- c
		}
	}
	close(next)
	wg.Wait()
}

// percentile returns the p-th percentile of d, which it sorts.
func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// memory is what the process holds.
type memory struct {
	heap, stacks int64 // bytes of heap and goroutine stacks in use
	// Of heap, estimates of the Go clients' share, and of the nodes'
	// mirrors of the connections other nodes serve.
	clients, mirrors int64
}

// memoryInUse returns what the process holds, after a collection. The
// clients' share is the heap allocated with a frame of package client on
// the stack, the mirrors' that allocated as a node applied another's
// message, estimated from the heap profile; they are sharper the lower
// runtime.MemProfileRate.
func memoryInUse() memory {
	runtime.GC()
	runtime.GC() // the profile is that of the last collection but one
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memory{heap: int64(ms.HeapInuse), stacks: int64(ms.StackInuse)}
	var recs []runtime.MemProfileRecord
	for n, ok := runtime.MemProfile(nil, false); !ok; {
		recs = make([]runtime.MemProfileRecord, n+100)
		n, ok = runtime.MemProfile(recs, false)
		recs = recs[:min(n, len(recs))]
	}
	rate := float64(runtime.MemProfileRate)
	for _, r := range recs {
		bytes, objects := r.InUseBytes(), r.InUseObjects()
		if objects <= 0 {
			continue
		}
		// An object of size b is sampled with probability 1-exp(-b/rate).
		size := float64(bytes) / float64(objects)
		est := int64(float64(bytes) / (1 - math.Exp(-size/rate)))
		switch {
		case hasFrame(r.Stack(), "github.com/crossbar-rtc/crossbar/client."):
			m.clients += est
		case hasFrame(r.Stack(), "github.com/crossbar-rtc/crossbar.busHandler.Message"):
			m.mirrors += est
		}
	}
	return m
}

// hasFrame reports whether a stack has a frame of a function whose name
// starts with prefix.
func hasFrame(stack []uintptr, prefix string) bool {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, prefix) {
			return true
		}
		if !more {
			return false
		}
	}
}

// TestClusterBallroom: 3,000 connections with the largest connection data
// join one session on three nodes in a storm. Every join succeeds and
// every node counts them all; past the connection events limit a join
// costs a listening client no message; groups of four talking across the
// nodes keep hearing each other; a late joiner on each node gets the
// whole state (every stream and its connection) in messages the protocol
// allows. It logs the time until all joined, join latency, Redis
// commands and signaling messages per join, and heap per connection.
func TestClusterBallroom(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 connections on three nodes")
	}
	// A finer heap profile than the default, to tell the Go clients'
	// memory from the nodes'.
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 16 << 10
	t.Cleanup(func() { runtime.MemProfileRate = rate })
	warnings := &logLines{}
	rs, nodes := newCluster(t, ballroomNodes, crossbar.Config{MaxConnectionsPerSession: ballroomSize, ConnectionEventsLimit: ballroomLimit,
		Logger: slog.New(slog.NewTextHandler(warnings, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	s := nodes[0].session()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A listener on each node, then the groups: the session is live on
	// every node before the storm.
	quietFrom := 2 * ballroomLimit // well past the limit, whatever the nodes' lag
	var listeners []*listener
	for i, n := range nodes {
		listeners = append(listeners, listen(n.connect(s, crossbar.RoleSubscriber, fmt.Sprint("listener ", i)), quietFrom))
	}
	groups := startGroups(t, ctx, nodes, s, ballroomGroups, ballroomGroupSize)
	warm, _ := packets(groups)
	waitPackets(t, groups, warm, 25, "every group member hearing the others")
	// The storm and a late joiner on each node fill the session.
	loud := ballroomLimit - len(s.Connections()) // joins the listeners hear of
	total := ballroomSize - len(nodes)
	joins := total - len(s.Connections())
	streams := ballroomGroups * ballroomGroupSize

	tokens := make([]string, joins)
	for i := range tokens {
		tokens[i] = nodes[0].token(s, crossbar.RoleSubscriber, ballroomData(i))
	}
	stats := rs.Client()
	defer stats.Close()
	memBefore := memoryInUse()
	var messagesBefore, createdBefore []int64
	for _, l := range listeners {
		messagesBefore, createdBefore = append(messagesBefore, l.messages.Load()), append(createdBefore, l.created.Load())
	}
	packetsBefore, seqBefore := packets(groups)
	if err := stats.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	clients, took := storm(t, nodes, tokens)
	returned := time.Since(start)
	settle(t, nodes, s, total, clients, warnings)
	settled := time.Since(start)
	cmds := redisCommands(t, stats)
	packetsAfter, seqAfter := packets(groups)
	memAfter := memoryInUse()

	t.Logf("%d joins on %d nodes, %d at a time: all connect calls returned after %v, every node counted %d connections after %v",
		joins, len(nodes), stormConcurrency, returned.Round(time.Millisecond), total, settled.Round(time.Millisecond))
	t.Logf("join latency (connect call to return): p50 %v, p95 %v, max %v",
		percentile(took, 0.5).Round(time.Millisecond), percentile(took, 0.95).Round(time.Millisecond), percentile(took, 1).Round(time.Millisecond))

	// Redis: heartbeats aside (each node beats with MULTI, ZADD, HSET,
	// EXEC and reads the members with ZRANGE, HMGET every second).
	beats := 2*cmds["multi"] + cmds["zadd"] + cmds["exec"] + cmds["zrange"] + cmds["hmget"]
	all := 0
	for _, n := range cmds {
		all += n
	}
	perJoin := float64(all-beats) / float64(joins)
	t.Logf("Redis commands per join: %.2f (%d in all, %d of them heartbeats; by command %v)", perJoin, all, beats, cmds)
	if perJoin > 4 {
		t.Errorf("a join costs %.1f Redis commands, want at most 4", perJoin)
	}

	// Signaling: the listeners heard of the loud joins, before the limit,
	// and of no join well past it.
	for i, l := range listeners {
		got := l.messages.Load() - messagesBefore[i]
		t.Logf("listener on node %d: %d messages in the storm, %.3f per join; %d connectionCreated (%d joins before the limit), %d of joiners from %d on",
			i+1, got, float64(got)/float64(joins), l.created.Load()-createdBefore[i], loud, l.late.Load(), quietFrom)
		if l.late.Load() != 0 {
			t.Errorf("listener on node %d heard of %d joins past the connection events limit", i+1, l.late.Load())
		}
		if got > int64(quietFrom) {
			t.Errorf("listener on node %d got %d messages for %d joins, want at most %d", i+1, got, joins, quietFrom)
		}
	}

	// Memory: the three nodes and the storm's Go clients share this
	// process: per join, each node holds one connection (its own, or the
	// mirror of another node's) and the process one Go client.
	kib := func(after, before int64) float64 { return float64(after-before) / 1024 / float64(joins) }
	heap, goClients := kib(memAfter.heap, memBefore.heap), kib(memAfter.clients, memBefore.clients)
	mirrors := kib(memAfter.mirrors, memBefore.mirrors) / (ballroomNodes - 1) // each join is mirrored on the other nodes
	t.Logf("process heap in use: +%.1f KiB a join, goroutine stacks +%.1f KiB (three nodes and the Go clients in one process)",
		heap, kib(memAfter.stacks, memBefore.stacks))
	t.Logf("of the heap, estimated from the heap profile: the Go client %.1f KiB, the nodes %.1f KiB (%.1f KiB a node): a mirror %.1f KiB, so the serving node's own connection %.1f KiB",
		goClients, heap-goClients, (heap-goClients)/ballroomNodes, mirrors, heap-goClients-(ballroomNodes-1)*mirrors)

	// Media: the groups kept hearing each other through the storm, and
	// still do.
	got, sent := diff(packetsAfter, packetsBefore), diff(seqAfter, seqBefore)
	var lost []int64
	for i := range got {
		lost = append(lost, sent[i]-got[i])
	}
	t.Logf("audio in the storm (%v, 50 packets a second): a subscription got %d to %d packets of the %d to %d its publisher sent; lost %d to %d",
		settled.Round(time.Millisecond), slices.Min(got), slices.Max(got), slices.Min(sent), slices.Max(sent), slices.Min(lost), slices.Max(lost))
	waitPackets(t, groups, packetsAfter, 25, "every group member hearing the others after the storm")
	if n := warnings.count(); n > 0 {
		t.Logf("the nodes warned %d times: %s", n, warnings.first(5))
	}

	// A late joiner on each node: quiet, it is told every stream, on every
	// node, and their connections, and itself.
	for i, n := range nodes {
		c := n.connect(s, crossbar.RoleSubscriber, ballroomData(joins+i))
		if got := len(c.Streams()); got != streams {
			t.Errorf("late joiner on node %d knows %d streams, want %d", i+1, got, streams)
		}
		if got := len(c.Connections()); got != streams+1 {
			t.Errorf("late joiner on node %d knows %d connections, want the %d publishers and itself", i+1, got, streams)
		}
	}
}

// settle waits until every node counts total connections in s, and
// otherwise fails, with what the nodes count, the storm's clients heard
// of their end, and the nodes' warnings.
func settle(t *testing.T, nodes []*node, s *crossbar.Session, total int, clients []*client.Session, warnings *logLines) {
	t.Helper()
	var counts []int
	if poll(60*time.Second, func() bool {
		counts = counts[:0]
		for _, n := range nodes {
			counts = append(counts, len(n.on(t, s).Connections()))
		}
		return slices.Min(counts) == total && slices.Max(counts) == total
	}) {
		return
	}
	ended := map[string]int{}
	for _, c := range clients {
		for drained := false; !drained; {
			select {
			case ev := <-c.Events():
				if ev.Type == signaling.TypeSessionDisconnected || ev.Type == client.TypeReconnecting {
					ended[string(ev.Type)+" "+ev.Reason]++
				}
			default:
				drained = true
			}
		}
	}
	t.Fatalf("the nodes count %v connections, want %d; the storm's clients heard %v; the nodes warned %d times: %s",
		counts, total, ended, warnings.count(), warnings.first(10))
}

// logLines keeps the lines of a log, the first hundred of them, but the
// media engine's (the ICE agents' warnings of peers not yet connected).
type logLines struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	if strings.Contains(string(p), " component=sfu") {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if len(l.lines) < 100 {
		l.lines = append(l.lines, string(p))
	}
	return len(p), nil
}

func (l *logLines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *logLines) first(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[:min(n, len(l.lines))], "")
}

// diff returns a - b, element by element.
func diff(a, b []int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}
