package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/crossbar-rtc/crossbar"
)

func ExampleServer_StartBroadcast() {
	srv, err := crossbar.New(crossbar.Config{
		APIKey:    "12345678",
		APISecret: "a-secret-of-at-least-16-bytes",
		FFmpeg:    "ffmpeg", // composes and encodes the broadcast live
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler()) // serves the HLS playlist too
	ctx := context.Background()
	s, err := srv.CreateSession(ctx, crossbar.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}

	// Every stream of the session in one HD picture, to an HLS playlist
	// (and RTMP servers, up to 5, would be listed in Outputs.RTMP).
	b, err := srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{
		Resolution: "1280x720",
		Layout:     crossbar.ArchiveLayout{Type: "bestFit", ScreenshareType: "horizontalPresentation"},
		Outputs:    crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{DVR: true}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Status, b.HLSURL == "broadcast/"+b.ID+"/hls/index.m3u8") // at http://host/crossbar/broadcast/...

	b, err = srv.StopBroadcast(ctx, b.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Status)
	// Output:
	// started true
	// stopped
}

func ExampleServer_AddBroadcastStream() {
	srv, err := crossbar.New(crossbar.Config{APIKey: "12345678", APISecret: "a-secret-of-at-least-16-bytes"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	s, err := srv.CreateSession(ctx, crossbar.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}
	// In manual stream mode the broadcast has the streams the host adds,
	// each with the media it asks for.
	b, err := srv.StartBroadcast(ctx, s.ID(), crossbar.BroadcastOptions{
		StreamMode: crossbar.StreamModeManual,
		Outputs:    crossbar.BroadcastOutputs{HLS: &crossbar.HLSOptions{}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// A stream of the session, heard but given no tile; this session has
	// none yet.
	err = srv.AddBroadcastStream(ctx, b.ID, crossbar.ArchiveStream{StreamID: "a-stream-id", HasAudio: true})
	fmt.Println(errors.Is(err, crossbar.ErrStreamNotFound), len(b.Streams))
	// Output:
	// true 0
}
