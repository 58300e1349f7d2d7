// Package crossbartest tests an application's room logic in plain go test,
// in milliseconds: a real crossbar.Server, whose sessions, tokens, roles,
// limits and callbacks are the production code, and virtual participants
// that join it as client apps do, over in-memory signaling links the test
// controls.
//
//	ts := crossbartest.NewServer(t, crossbar.Config{})
//	s := ts.NewSession(t, crossbar.SessionOptions{})
//	teacher := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Role: crossbar.RolePublisher}))
//	student := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Role: crossbar.RoleSubscriber}))
//	teacher.Publish(ctx, client.PublishOptions{Name: "teacher", Video: true})
//	st, err := student.WaitStreamCreated(ctx)
//
// Participants publish signal-only streams by default: announced,
// subscribed to, muted and ended as any other, without WebRTC
// (crossbar.Config.SignalOnlyStreams). One that joins WithMedia publishes
// real media instead (Pion, on loopback): synthetic video that names its
// publisher and numbers its frames, which Watch reads on a subscriber to
// tell whose video arrives and how long it froze.
//
// Every wait (Participant.WaitStreamCreated, WaitSignal, Wait...) takes a
// context for its deadline, and its error lists every event the
// participant saw. The server's session logic runs on a fake Clock that
// moves only when the test advances it: tokens expire and reconnect grace
// periods end at once. Participant.Cut and Restore fail a participant's
// signaling link and bring it back; a participant joined WithNetwork sends
// its media through a netem.Shaper, whose loss, latency and bandwidth cap
// the test sets at will.
package crossbartest
