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

// A composed archive that ffmpeg fails to compose is told failed, with
// the reason, after it stopped: OnArchiveStatus says when.
func TestArchiveStatusComposedFails(t *testing.T) {
	mediatest.Need(t)
	h, _ := archiveHarness(t, crossbar.Config{FFmpeg: "false"})
	s := h.session()
	until := followArchives(t, s)
	publishTagged(t, h.mediaClient(s, h.ws, "pub", nil, client.Options{}), "pub")
	ctx := context.Background()
	a, err := h.srv.StartArchive(ctx, s.ID(), crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed})
	if err != nil {
		t.Fatal(err)
	}
	recordFor(t, h.srv, a.ID, time.Second)
	if _, err := h.srv.StopArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	seen, last := until(a.ID)
	if want := []crossbar.ArchiveStatus{crossbar.ArchiveStarted, crossbar.ArchiveStopped, crossbar.ArchiveFailed}; !slices.Equal(seen, want) {
		t.Fatalf("statuses %v, want %v", seen, want)
	}
	if !strings.Contains(last.Reason, "false") {
		t.Errorf("the failed archive's reason %q does not name its ffmpeg", last.Reason)
	}
}
