package crossbar

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossbar-rtc/crossbar/sfu"
	"github.com/crossbar-rtc/crossbar/signaling"
)

// metrics are the server's Prometheus metrics counted as things happen.
// Those of the server's state and of the forwarding engine's counters are
// read when scraped (collector), so that forwarding a packet costs nothing
// more. Without Config.Metrics they are counted but registered nowhere.
type metrics struct {
	joins       prometheus.Histogram
	messages    *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	slowClients prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		joins: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "crossbar_join_duration_seconds",
			Help:    "Time from a client's connect message to its connection joined (or resumed) and its reply queued.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15), // 0.5 ms to 8 s
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossbar_signaling_messages_total",
			Help: "Signaling messages received from clients, by type (\"other\" for types the protocol does not have).",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossbar_rejected_actions_total",
			Help: "Client requests and connects refused, by the OpenTok error code the client got.",
		}, []string{"code"}),
		slowClients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crossbar_slow_clients_total",
			Help: "Connections ended because their signaling queue was full: the client read too slowly.",
		}),
	}
}

// register registers the metrics and the collector of srv on reg.
func (m *metrics) register(reg prometheus.Registerer, srv *Server) error {
	for _, c := range []prometheus.Collector{m.joins, m.messages, m.rejected, m.slowClients, newCollector(srv)} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// message counts a message received from a client.
func (m *metrics) message(t signaling.Type) {
	if _, ok := requests[t]; !ok && t != signaling.TypeConnect && t != signaling.TypeDisconnect && t != signaling.TypePing {
		t = "other" // a client's made-up types must not make series
	}
	m.messages.WithLabelValues(string(t)).Inc()
}

// reject counts a refused request or connect.
func (m *metrics) reject(e *signaling.Error) {
	m.rejected.WithLabelValues(strconv.Itoa(e.Code)).Inc()
}

// joined observes a join that started at start.
func (m *metrics) joined(start time.Time) {
	m.joins.Observe(time.Since(start).Seconds())
}

// collector reads the server's gauges and the engine's counters when
// scraped.
type collector struct {
	srv                            *Server
	sessions, conns, streams, subs *prometheus.Desc
	totals                         []total
	nacks, plis                    *prometheus.Desc
	turnAllocations                *prometheus.Desc
}

// total is one of the engine's counters.
type total struct {
	desc  *prometheus.Desc
	value func(sfu.Totals) uint64
}

func newCollector(srv *Server) *collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		srv:      srv,
		sessions: desc("crossbar_sessions", "Sessions live in this process."),
		conns:    desc("crossbar_connections", "Connections this process serves (not those of other nodes)."),
		streams:  desc("crossbar_streams", "Streams published to this process."),
		subs:     desc("crossbar_subscriptions", "Subscriptions this process serves."),
		totals: []total{
			{desc("crossbar_media_received_packets_total", "RTP packets received from publishers (and node links)."), func(t sfu.Totals) uint64 { return t.PacketsIn }},
			{desc("crossbar_media_received_bytes_total", "RTP bytes received from publishers (and node links)."), func(t sfu.Totals) uint64 { return t.BytesIn }},
			{desc("crossbar_media_forwarded_packets_total", "RTP packets forwarded to subscribers (and node links)."), func(t sfu.Totals) uint64 { return t.PacketsOut }},
			{desc("crossbar_media_forwarded_bytes_total", "RTP bytes forwarded to subscribers (and node links)."), func(t sfu.Totals) uint64 { return t.BytesOut }},
			{desc("crossbar_media_dropped_packets_total", "Packets not forwarded: a subscriber's queue full, its transport not ready, or evicted from the cache first."), func(t sfu.Totals) uint64 { return t.PacketsDropped }},
			{desc("crossbar_media_layer_switches_total", "Changes of the simulcast or spatial layer forwarded to a subscriber."), func(t sfu.Totals) uint64 { return t.LayerSwitches }},
			{desc("crossbar_media_congestion_events_total", "Layers left because a subscriber's path was congested."), func(t sfu.Totals) uint64 { return t.Congestions }},
		},
		nacks:           desc("crossbar_media_nacks_total", "Sequence numbers asked to be sent again: by subscribers (direction=\"in\") or of publishers (\"out\").", "direction"),
		plis:            desc("crossbar_media_plis_total", "Keyframe requests: from subscribers (direction=\"in\") or to publishers (\"out\").", "direction"),
		turnAllocations: desc("crossbar_turn_allocations", "Relays the embedded TURN server holds for clients (with Config.TURN only)."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.conns, c.streams, c.subs, c.nacks, c.plis, c.turnAllocations} {
		ch <- d
	}
	for _, t := range c.totals {
		ch <- t.desc
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	n := c.srv.census()
	gauge(c.sessions, n.sessions)
	gauge(c.conns, n.conns)
	gauge(c.streams, n.streams)
	gauge(c.subs, n.subs)
	t := c.srv.engine.Totals()
	for _, tot := range c.totals {
		counter(tot.desc, tot.value(t))
	}
	counter(c.nacks, t.NACKsReceived, "in")
	counter(c.nacks, t.NACKsSent, "out")
	counter(c.plis, t.PLIsReceived, "in")
	counter(c.plis, t.PLIsSent, "out")
	if c.srv.turn != nil {
		gauge(c.turnAllocations, c.srv.turn.srv.AllocationCount())
	}
}

// census counts what this process serves.
type census struct{ sessions, conns, streams, subs int }

func (srv *Server) census() census {
	srv.mu.Lock()
	live := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		live = append(live, s)
	}
	srv.mu.Unlock()
	n := census{sessions: len(live)}
	for _, s := range live {
		s.mu.Lock()
		for _, c := range s.conns {
			if !c.remote() {
				n.conns++
				n.subs += len(c.media.subs)
			}
		}
		for _, st := range s.streams {
			if !st.connection.remote() {
				n.streams++
			}
		}
		s.unlock()
	}
	return n
}
