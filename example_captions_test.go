package crossbar_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

func ExampleServer_StartCaptions() {
	srv, err := crossbar.New(crossbar.Config{
		APIKey:    "12345678",
		APISecret: "a-secret-of-at-least-16-bytes",
		// The host's speech-to-text engine: a Recognizer per stream. This
		// one hears the same lines whatever is said, one every 2 s of audio.
		Captions: crossbar.FixedTranscript([]string{"hello", "goodbye"}, 2*time.Second),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	s, err := srv.CreateSession(ctx, crossbar.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}

	// Streams published with captions (publishCaptions) are transcribed
	// for the subscribers that ask (subscribeToCaptions).
	c, err := srv.StartCaptions(ctx, s.ID(), crossbar.CaptionsOptions{LanguageCode: "en-GB", PartialCaptions: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.LanguageCode, c.Status)

	c, err = srv.StopCaptions(ctx, c.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Status)
	// Output:
	// en-GB started
	// stopped
}
