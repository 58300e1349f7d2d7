package crossbar_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
)

func ExampleServer_StartArchive() {
	dir, err := os.MkdirTemp("", "archives")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := crossbar.New(crossbar.Config{
		APIKey:    "12345678",
		APISecret: "a-secret-of-at-least-16-bytes",
		Archives:  archive.Dir(dir), // each archive's files in a directory of its own
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

	// Every stream of the session, each to its own WebM file.
	a, err := srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{Name: "standup", OutputMode: crossbar.OutputIndividual})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Name, a.Status) // paused: nobody publishes yet

	if _, err := srv.StopArchive(ctx, a.ID); err != nil {
		log.Fatal(err)
	}
	a, err = srv.Archive(ctx, a.ID)
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(archive.Dir(dir).Path(a.ID, archive.ManifestName))
	fmt.Println(a.Status, err == nil)
	// Output:
	// standup paused
	// available true
}

func ExampleServer_StartArchive_composed() {
	dir, err := os.MkdirTemp("", "archives")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := crossbar.New(crossbar.Config{
		APIKey:    "12345678",
		APISecret: "a-secret-of-at-least-16-bytes",
		Archives:  archive.Dir(dir),
		FFmpeg:    "ffmpeg", // composes the archive when it stops
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	s, err := srv.CreateSession(ctx, crossbar.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}

	// Every stream of the session in one HD picture: the one of layout
	// class "focus" large, the others small in its corner.
	a, err := srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{
		Name:       "lecture",
		OutputMode: crossbar.OutputComposed,
		Resolution: "1280x720",
		Layout:     crossbar.ArchiveLayout{Type: "pip"},
	})
	if err != nil {
		log.Fatal(err)
	}
	// From now on, a grid; while a screen is shared, the screen large.
	if err := srv.SetArchiveLayout(ctx, a.ID, crossbar.ArchiveLayout{Type: "bestFit", ScreenshareType: "horizontalPresentation"}); err != nil {
		log.Fatal(err)
	}
	a, err = srv.StopArchive(ctx, a.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Status, a.Resolution) // being composed

	srv.Close() // waits for composed archives to be composed
	a, err = srv.Archive(ctx, a.ID)
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(archive.Dir(dir).Path(a.ID, crossbar.ComposedArchiveFile))
	fmt.Println(a.Status, err == nil)
	// Output:
	// stopped 1280x720
	// available true
}
