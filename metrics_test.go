package crossbar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
)

// scrape reads the metrics a promhttp handler serves, by series as
// written: `name` or `name{label="value",...}`.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", w.Code, w.Body)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

// TestMetricsDuringMedia scrapes the metrics of a server whose Go clients
// publish and subscribe, and checks them against what the clients did and
// counted.
func TestMetricsDuringMedia(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, crossbar.Config{Metrics: reg})
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	s := h.session()
	pc, sub, stop := flowMedia(t, h, s, 100)

	m := scrape(t, handler)
	for series, want := range map[string]float64{
		"crossbar_sessions": 1, "crossbar_connections": 2, "crossbar_streams": 1, "crossbar_subscriptions": 1,
		"crossbar_join_duration_seconds_count":                2,
		`crossbar_signaling_messages_total{type="connect"}`:   2,
		`crossbar_signaling_messages_total{type="publish"}`:   1,
		`crossbar_signaling_messages_total{type="subscribe"}`: 1,
	} {
		if m[series] != want {
			t.Errorf("%s = %v during the call, want %v", series, m[series], want)
		}
	}
	if m["crossbar_media_forwarded_packets_total"] == 0 || m["crossbar_media_received_packets_total"] == 0 {
		t.Errorf("media counters did not move: %v", m)
	}

	// Once the publisher stops and the last packets arrived, the server
	// forwarded exactly what the subscriber counted.
	stop()
	matchesSubscriber := func(m map[string]float64) bool {
		st := sub.Stats()
		return m["crossbar_media_forwarded_packets_total"] == float64(st.Audio.Packets+st.Video.Packets) &&
			m["crossbar_media_forwarded_bytes_total"] == float64(st.Audio.Bytes+st.Video.Bytes)
	}
	var last map[string]float64
	waitFor(t, 5*time.Second, "the forwarded packets to match the subscriber's", func() bool {
		last = scrape(t, handler)
		return matchesSubscriber(last)
	})
	t.Logf("forwarded %v packets, %v bytes, as the subscriber counted; received %v packets; %v joins took %v s in all",
		last["crossbar_media_forwarded_packets_total"], last["crossbar_media_forwarded_bytes_total"], last["crossbar_media_received_packets_total"],
		last["crossbar_join_duration_seconds_count"], last["crossbar_join_duration_seconds_sum"])
	if last["crossbar_media_received_packets_total"] < last["crossbar_media_forwarded_packets_total"] {
		t.Errorf("received %v packets, forwarded %v to one subscriber", last["crossbar_media_received_packets_total"], last["crossbar_media_forwarded_packets_total"])
	}

	// A subscriber may not publish: refused with OpenTok's code, counted.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	viewer := h.connect(s, crossbar.RoleSubscriber, "viewer")
	_, err := viewer.Publish(ctx, client.PublishOptions{Name: "nope", Audio: true})
	code := errorCode(err)
	if code == 0 {
		t.Fatalf("a subscriber published: %v", err)
	}
	if got := scrape(t, handler)[`crossbar_rejected_actions_total{code="`+strconv.Itoa(code)+`"}`]; got != 1 {
		t.Errorf("rejected actions with code %d: %v, want 1", code, got)
	}

	// The counters keep what closed connections forwarded. A packet still
	// queued, or a retransmission the subscriber asked for, may be forwarded
	// after the first match: the totals end where the subscriber's count
	// does, and never below what they were.
	if err := pc.Disconnect(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the publisher's connection and stream to end, and the forwarded packets to match the subscriber's", func() bool {
		m = scrape(t, handler)
		return m["crossbar_connections"] == 2 && m["crossbar_streams"] == 0 && m["crossbar_subscriptions"] == 0 && matchesSubscriber(m)
	})
	for _, series := range []string{"crossbar_media_forwarded_packets_total", "crossbar_media_forwarded_bytes_total", "crossbar_media_received_packets_total"} {
		if m[series] < last[series] {
			t.Errorf("%s went from %v to %v when the publisher left", series, last[series], m[series])
		}
	}
}

// TestDashboardQueriesServedMetrics checks that the Grafana dashboard in
// docs queries every metric a server registers, and no other.
func TestDashboardQueriesServedMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, crossbar.Config{Metrics: reg, TURN: loopbackTURN})
	// A refused connect makes the series of messages and refusals.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Connect(ctx, h.ws, "T1==not-a-token", nil); err == nil {
		t.Fatal("connected with a made-up token")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, f := range families {
		served[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				served[f.GetName()+suffix] = true
			}
		}
	}
	b, err := os.ReadFile("docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range regexp.MustCompile(`crossbar_[a-z_]+`).FindAllString(target.Expr, -1) {
				queried[strings.TrimSuffix(name, "_bucket")] = true
				if !served[name] {
					t.Errorf("panel %q queries %s, which the server does not serve", p.Title, name)
				}
			}
		}
	}
	for _, f := range families {
		if !queried[f.GetName()] {
			t.Errorf("the dashboard shows nothing of %s", f.GetName())
		}
	}
}
