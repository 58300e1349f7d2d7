package signaling

import (
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	m, err := Decode([]byte(`{"v":1,"type":"signal","id":3,"signal":{"to":"c","type":"t","data":"d"},"extra":"ignored"}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeSignal || m.ID != 3 || m.Signal == nil || m.Signal.To != "c" || m.Signal.Data != "d" {
		t.Fatalf("decoded %+v", m)
	}
	for _, bad := range []string{``, `null`, `[]`, `{"v":1}`, `{"v":2,"type":"x"}`, `{"type":"x"}`, `{"v":1,"type":"x"`, `{"v":"1","type":"x"}`,
		`{"v":1,"type":"x","id":-1}`, `{"v":1,"type":"x","signal":"s"}`, strings.Repeat(" ", MaxMessageSize+1)} {
		if _, err := Decode([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%.40q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	yes := true
	in := &Message{Type: TypeStreamPropertyChanged, Stream: &Stream{ID: "s", HasAudio: true, VideoDimensions: &Dimensions{640, 480}},
		Change: &PropertyChange{Property: "hasAudio", OldValue: false, NewValue: true}, Active: &yes}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.V != Version || out.Stream.VideoDimensions.Width != 640 || out.Change.NewValue != true || !*out.Active {
		t.Fatalf("round trip: %s -> %+v", b, out)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"connect","id":1,"token":"t","resume":{"connectionId":"c","key":"k","received":3}}`))
	f.Add([]byte(`{"v":1,"type":"publish","id":2,"sdp":"v=0","tracks":[{"mid":"0","kind":"audio"}],"stream":{"name":"n"}}`))
	f.Add([]byte(`{"v":1,"type":"candidate","pc":"publisher","candidate":{"candidate":"c","sdpMLineIndex":0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if m.V != Version || m.Type == "" {
			t.Fatalf("accepted %+v", m)
		}
		if _, err := Encode(m); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
