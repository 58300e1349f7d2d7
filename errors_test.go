package crossbar

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crossbar-rtc/crossbar/sfu"
)

// Clients read what failed, not the engine's or Pion's words, which stay
// in the error for the host's logs and for errors.Is.
func TestClientErrorHidesCauses(t *testing.T) {
	cause := errors.New("pion: sdp: line 3: invalid syntax")
	err := withCause(fmt.Errorf("%w: the offer could not be applied", ErrBadRequest), cause)
	if ce := ClientError(err); ce.Code != 1011 || strings.Contains(ce.Message, "pion") {
		t.Errorf("client sees %+v", ce)
	}
	if !errors.Is(err, ErrBadRequest) || !errors.Is(err, cause) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("the host's error lost its cause: %v", err)
	}
	for _, tc := range []struct {
		cause error
		code  int
	}{
		{fmt.Errorf("sfu: subscribe to track %q: %w", "v", sfu.ErrTrackClosed), 1535},
		{sfu.ErrPeerClosed, 1010},
		{errors.New("pion: add track: no transceiver"), 2000},
	} {
		err := subscribeError("s1", tc.cause)
		ce := ClientError(err)
		if ce.Code != tc.code || strings.Contains(ce.Message, "pion") || strings.Contains(ce.Message, "sfu:") {
			t.Errorf("%v: client sees %+v, want code %d without the cause", tc.cause, ce, tc.code)
		}
		if !errors.Is(err, tc.cause) {
			t.Errorf("%v: errors.Is lost the cause", tc.cause)
		}
	}
}
