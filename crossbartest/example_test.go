package crossbartest_test

import (
	"context"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
)

// A test of a classroom's rule: students get subscriber tokens, so they
// watch the teacher and cannot publish. The body is a test's: NewServer
// and Join need its t for their cleanup and failures, so go test compiles
// this example without running it; TestSignalOnlyStreams and
// TestRolesAreTheServers run the same steps.
func Example() {
	var t *testing.T // in a test, the test's
	ts := crossbartest.NewServer(t, crossbar.Config{})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	teacher := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Role: crossbar.RolePublisher, Data: "teacher"}))
	student := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Role: crossbar.RoleSubscriber, Data: "student"}))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := teacher.Publish(ctx, client.PublishOptions{Name: "board", Video: true}); err != nil {
		t.Fatal(err)
	}
	st, err := student.WaitStreamCreated(ctx) // on failure, err lists what the student saw
	if err != nil {
		t.Fatal(err)
	}
	if _, err := student.Subscribe(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := student.Publish(ctx, client.PublishOptions{Video: true}); err == nil {
		t.Error("a student published")
	}
}
