package crossbar_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

// followArchives follows the statuses of the session's archives, as
// OnArchiveStatus tells them; until waits for one archive to be
// available or failed, and returns the statuses it had, and it last.
func followArchives(t *testing.T, s *crossbar.Session) (until func(id string) ([]crossbar.ArchiveStatus, crossbar.Archive)) {
	t.Helper()
	told := make(chan crossbar.Archive, 16)
	s.OnArchiveStatus(func(a crossbar.Archive) { told <- a })
	return func(id string) ([]crossbar.ArchiveStatus, crossbar.Archive) {
		t.Helper()
		var seen []crossbar.ArchiveStatus
		for {
			select {
			case a := <-told:
				if a.ID != id {
					t.Fatalf("status of another archive: %+v", a)
				}
				seen = append(seen, a.Status)
				if a.Status == crossbar.ArchiveAvailable || a.Status == crossbar.ArchiveFailed {
					return seen, a
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("archive %s is neither available nor failed: statuses %v", id, seen)
			}
		}
	}
}

// recordArchive starts an archive of the session, waits until it has
// recorded for d, stops it and returns it, stopped.
func recordArchive(t *testing.T, srv *crossbar.Server, s *crossbar.Session, opts crossbar.ArchiveOptions, d time.Duration) crossbar.Archive {
	t.Helper()
	ctx := context.Background()
	a, err := srv.StartArchive(ctx, s.ID(), opts)
	if err != nil {
		t.Fatal(err)
	}
	recordFor(t, srv, a.ID, d)
	stopped, err := srv.StopArchive(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return stopped
}

// A composed archive that ffmpeg fails to compose is told failed, with
// the reason, after it stopped: OnArchiveStatus says when.
func TestArchiveStatusComposedFails(t *testing.T) {
	mediatest.Need(t)
	h, _ := archiveHarness(t, crossbar.Config{FFmpeg: "false"})
	s := h.session()
	until := followArchives(t, s)
	publishTagged(t, h.mediaClient(s, h.ws, "pub", nil, client.Options{}), "pub")
	a := recordArchive(t, h.srv, s, crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed}, time.Second)
	seen, last := until(a.ID)
	if want := []crossbar.ArchiveStatus{crossbar.ArchiveStarted, crossbar.ArchiveStopped, crossbar.ArchiveFailed}; !slices.Equal(seen, want) {
		t.Fatalf("statuses %v, want %v", seen, want)
	}
	if !strings.Contains(last.Reason, "false") {
		t.Errorf("the failed archive's reason %q does not name its ffmpeg", last.Reason)
	}
}
