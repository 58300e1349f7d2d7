package crossbar_test

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
)

// BenchmarkRESTUnderChurn measures OpenTok's REST API and the webhooks
// while 100 connections come and go (each stays 1-3 s, so about 50 joins
// and 50 leaves a second, each announced to the others): each operation is one REST call, a list
// of the session's streams or a signal to every connection, timed from
// request to answer. It reports the calls' p50 and p95 and the delay from
// an event (its timestamp) to its webhook's arrival at a receiver.
func BenchmarkRESTUnderChurn(b *testing.B) {
	var mu sync.Mutex
	var delays []time.Duration
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Timestamp int64 }
		if json.Unmarshal(body, &ev) == nil && ev.Timestamp > 0 {
			mu.Lock()
			delays = append(delays, time.Since(time.UnixMilli(ev.Timestamp)))
			mu.Unlock()
		}
	}))
	defer hook.Close()
	h := newHarness(b, crossbar.Config{Webhook: crossbar.WebhookConfig{URL: hook.URL, Secret: hookSecret}})
	api := "http" + strings.TrimPrefix(strings.TrimSuffix(h.ws, "/ws"), "ws")
	s, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := h.srv.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.RolePublisher})
	if err != nil {
		b.Fatal(err)
	}

	stop := make(chan struct{})
	var churn sync.WaitGroup
	for i := range 100 {
		churn.Add(1)
		go func() {
			defer churn.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for {
				c, err := client.Connect(context.Background(), h.ws, tok, nil)
				if err != nil {
					b.Error(err)
					return
				}
				select {
				case <-time.After(time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))):
					c.Disconnect()
				case <-stop:
					c.Disconnect()
					return
				}
			}
		}()
	}
	defer func() { close(stop); churn.Wait() }()
	waitFor(b, 10*time.Second, "100 connections", func() bool { return len(s.Connections()) >= 90 })

	auth := restJWT(b, testSecret, nil)
	base := api + "/v2/project/" + testKey + "/session/" + s.ID()
	mu.Lock()
	delays = delays[:0]
	mu.Unlock()
	calls := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		method, url, body, want := "GET", base+"/stream", "", http.StatusOK
		if i%2 == 1 {
			method, url, body, want = "POST", base+"/signal", `{"type":"bench","data":"hello"}`, http.StatusNoContent
		}
		start := time.Now()
		if code, answer := restCall(b, method, url, auth, body); code != want {
			b.Fatalf("%s %s: %d %s", method, url, code, answer)
		}
		calls = append(calls, time.Since(start))
	}
	b.StopTimer()
	waitFor(b, 10*time.Second, "a webhook", func() bool { mu.Lock(); defer mu.Unlock(); return len(delays) > 0 })
	mu.Lock()
	hooks := slices.Clone(delays)
	mu.Unlock()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(calls, 0.5)), "rest-p50-ms")
	b.ReportMetric(ms(percentile(calls, 0.95)), "rest-p95-ms")
	b.ReportMetric(ms(percentile(hooks, 0.5)), "webhook-p50-ms")
	b.ReportMetric(ms(percentile(hooks, 0.95)), "webhook-p95-ms")
	b.ReportMetric(float64(len(hooks)), "webhooks")
}
