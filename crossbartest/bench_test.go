package crossbartest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
)

// BenchmarkTwentyParticipants runs a signal-only scenario in a new session
// of one server: 20 participants join, each publishes a stream, subscribes
// to everyone else's, signals everyone and waits for everyone's signal,
// then all leave.
func BenchmarkTwentyParticipants(b *testing.B) {
	const n = 20
	ts := crossbartest.NewServer(b, crossbar.Config{})
	b.ReportAllocs()
	for b.Loop() {
		if err := twenty(ts, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/participant")
}

// twenty runs the scenario of BenchmarkTwentyParticipants with n
// participants.
func twenty(ts *crossbartest.Server, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := ts.CreateSession(ctx, crossbar.SessionOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	ps := make([]*crossbartest.Participant, n)
	errs := make(chan error, n)
	all := func(f func(i int, p *crossbartest.Participant) error) error {
		var wg sync.WaitGroup
		for i := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f(i, ps[i]); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			return err
		default:
			return nil
		}
	}
	steps := []func(i int, p *crossbartest.Participant) error{
		func(i int, _ *crossbartest.Participant) error {
			tok, err := ts.GenerateToken(s.ID(), crossbar.TokenOptions{Role: crossbar.RolePublisher, Data: fmt.Sprint("p", i)})
			if err == nil {
				ps[i], err = ts.Connect(ctx, s.ID(), tok)
			}
			return err
		},
		func(_ int, p *crossbartest.Participant) error {
			_, err := p.Publish(ctx, client.PublishOptions{Audio: true, Video: true})
			return err
		},
		func(_ int, p *crossbartest.Participant) error {
			for range n - 1 {
				st, err := p.WaitStreamCreated(ctx)
				if err != nil {
					return err
				}
				if _, err := p.Subscribe(ctx, st.ID); err != nil {
					return err
				}
			}
			return p.Signal(ctx, "", "hello", p.ID())
		},
		func(_ int, p *crossbartest.Participant) error {
			for range n {
				if _, err := p.WaitSignal(ctx, "hello"); err != nil {
					return err
				}
			}
			return p.Disconnect()
		},
	}
	defer func() {
		for _, p := range ps {
			if p != nil {
				_ = p.Disconnect()
			}
		}
	}()
	for _, step := range steps {
		if err := all(step); err != nil {
			return err
		}
	}
	return nil
}
