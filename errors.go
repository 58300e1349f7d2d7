package crossbar

import (
	"errors"
	"fmt"

	"github.com/crossbar-rtc/crossbar/signaling"
)

// Errors returned by Crossbar. Test for them with errors.Is; each maps to a
// stable client-visible code (see ClientError).
var (
	ErrInvalidToken     = errors.New("crossbar: invalid token")
	ErrTokenExpired     = errors.New("crossbar: token expired")
	ErrTokenNotYetValid = errors.New("crossbar: token not yet valid")
	ErrTokenRevoked     = errors.New("crossbar: token revoked")
	ErrWrongSession     = errors.New("crossbar: token is for another session")
	ErrPermissionDenied = errors.New("crossbar: permission denied")
	ErrInvalidSessionID = errors.New("crossbar: invalid session id")
	ErrSessionNotFound  = errors.New("crossbar: session not found")
	ErrSessionClosed    = errors.New("crossbar: session closed")
	ErrConnectionLimit  = errors.New("crossbar: session connection limit reached")
	// ErrEncryptionSecretMissing refuses a client without an encryption
	// secret in an end-to-end encrypted session (SessionOptions.E2EE).
	ErrEncryptionSecretMissing = errors.New("crossbar: the session is end-to-end encrypted: connect with an encryption secret")
	ErrStreamLimit             = errors.New("crossbar: stream or subscription limit reached")
	ErrConnectionNotFound      = errors.New("crossbar: connection not found")
	ErrStreamNotFound          = errors.New("crossbar: stream not found")
	ErrInvalidSignal           = errors.New("crossbar: invalid signal")
	ErrSignalTooLarge          = errors.New("crossbar: signal too large")
	ErrInvalidOption           = errors.New("crossbar: invalid option")
	ErrNotConnected            = errors.New("crossbar: not connected")
	ErrRateLimited             = errors.New("crossbar: rate limit exceeded")
	ErrSignalDropped           = errors.New("crossbar: signal dropped")
	// ErrNotReadable is returned by ReadRTP on a client connection's
	// subscriber, whose packets go to the client.
	ErrNotReadable = errors.New("crossbar: subscriber is a client's; its packets go to the client")
	ErrBadRequest  = errors.New("crossbar: bad request")
	// ErrUnsupportedCodec ends a client's subscription to a stream whose
	// codec the client's answer did not accept: it cannot decode it.
	ErrUnsupportedCodec = errors.New("crossbar: unsupported codec")
	// ErrClusterUnavailable: an action needs another node, and the
	// cluster's bus cannot be reached.
	ErrClusterUnavailable = errors.New("crossbar: cluster unavailable")
	// ErrNodeDraining: the server is shutting down (Server.Shutdown);
	// its clients connect to another node of the cluster.
	ErrNodeDraining = errors.New("crossbar: node is draining: connect to another")
	// ErrArchiveNotFound: no archive has the id (OpenTok's 404).
	ErrArchiveNotFound = errors.New("crossbar: archive not found")
	// ErrArchiveConflict: the session or the archive is not in a state
	// that allows it: a relayed session, one already recorded, an
	// archive no longer recording (OpenTok's 409).
	ErrArchiveConflict = errors.New("crossbar: archive conflict")
	// ErrCaptionsNotFound: no captions are running with the id
	// (OpenTok's 404).
	ErrCaptionsNotFound = errors.New("crossbar: captions not found")
	// ErrCaptionsConflict: the session has captions already, or is
	// relayed (OpenTok's 409).
	ErrCaptionsConflict = errors.New("crossbar: captions conflict")
	// ErrBroadcastNotFound: no broadcast has the id (OpenTok's 404).
	ErrBroadcastNotFound = errors.New("crossbar: broadcast not found")
	// ErrBroadcastConflict: the session or the broadcast is not in a
	// state that allows it: a relayed session, one already broadcast, a
	// broadcast no longer running (OpenTok's 409).
	ErrBroadcastConflict = errors.New("crossbar: broadcast conflict")
	// ErrNotSupported: this version of Crossbar cannot do it yet.
	ErrNotSupported = errors.New("crossbar: not supported yet")
)

// PermissionError reports an action the connection's role does not permit.
// It matches ErrPermissionDenied with errors.Is.
type PermissionError struct {
	Role   Role
	Action Action
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("crossbar: role %s may not %s", e.Role, e.Action)
}

// Is reports whether target is ErrPermissionDenied.
func (e *PermissionError) Is(target error) bool { return target == ErrPermissionDenied }

// clientCodes maps each error to the code and name a client sees. Codes are
// OpenTok's where OpenTok has one.
var clientCodes = []struct {
	err  error
	code int
	name string
}{
	{ErrInvalidToken, 1004, "OT_AUTHENTICATION_ERROR"},
	{ErrTokenExpired, 1004, "OT_AUTHENTICATION_ERROR"},
	{ErrTokenNotYetValid, 1004, "OT_AUTHENTICATION_ERROR"},
	{ErrTokenRevoked, 1004, "OT_AUTHENTICATION_ERROR"},
	{ErrWrongSession, 1004, "OT_AUTHENTICATION_ERROR"},
	{ErrInvalidSessionID, 1005, "OT_INVALID_SESSION_ID"},
	{ErrSessionNotFound, 1005, "OT_INVALID_SESSION_ID"},
	{ErrSessionClosed, 1005, "OT_INVALID_SESSION_ID"},
	{ErrNotConnected, 1010, "OT_NOT_CONNECTED"},
	{ErrConnectionLimit, 1027, "OT_CONNECTION_LIMIT_EXCEEDED"},
	{ErrEncryptionSecretMissing, 6000, "OT_ENCRYPTION_SECRET_MISSING"},
	{ErrStreamLimit, 1605, "OT_STREAM_LIMIT_EXCEEDED"},
	{ErrInvalidOption, 1011, "OT_INVALID_PARAMETER"},
	{ErrBadRequest, 1011, "OT_INVALID_PARAMETER"},
	{ErrInvalidSignal, 400, "OT_INVALID_PARAMETER"},
	{ErrConnectionNotFound, 404, "OT_CONNECTION_NOT_FOUND"},
	{ErrSignalTooLarge, 413, "OT_INVALID_PARAMETER"},
	{ErrStreamNotFound, 1535, "OT_STREAM_NOT_FOUND"},
	{ErrUnsupportedCodec, 1502, "OT_UNSUPPORTED_CODEC"},
	{ErrRateLimited, 1560, "OT_RATE_LIMIT_EXCEEDED"},
	{ErrSignalDropped, 1560, "OT_RATE_LIMIT_EXCEEDED"},
	{ErrClusterUnavailable, 2000, "OT_INTERNAL_ERROR"},
	{ErrNodeDraining, 1006, "OT_CONNECT_FAILED"},
}

// permissionCodes gives the code of a refused action, as OpenTok reports it.
var permissionCodes = map[Action]int{
	ActionConnect:         1004,
	ActionPublish:         1500,
	ActionSubscribe:       1501,
	ActionSignal:          403,
	ActionForceDisconnect: 1520,
	ActionForceUnpublish:  1530,
	ActionForceMute:       1540,
}

// causeError is a failure the client is told of without its cause: the
// client reads err (what failed); the cause (the engine's or Pion's words)
// stays in the server's logs and in the chain errors.Is and errors.As walk.
type causeError struct {
	err, cause error
}

// withCause returns err with cause behind it, hidden from clients.
func withCause(err, cause error) error { return &causeError{err: err, cause: cause} }

func (e *causeError) Error() string   { return e.err.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() []error { return []error{e.err, e.cause} }

// ClientError converts err into the error a client is shown. Errors that are
// not Crossbar's become code 2000, without their text; causes behind a
// Crossbar error (the engine's, Pion's) are left out.
func ClientError(err error) *signaling.Error {
	var ce *causeError
	if errors.As(err, &ce) {
		err = ce.err
	}
	var pe *PermissionError
	if errors.As(err, &pe) {
		return &signaling.Error{Code: permissionCodes[pe.Action], Name: "OT_PERMISSION_DENIED", Message: err.Error()}
	}
	var se *signaling.Error
	if errors.As(err, &se) {
		return se
	}
	for _, c := range clientCodes {
		if errors.Is(err, c.err) {
			return &signaling.Error{Code: c.code, Name: c.name, Message: err.Error()}
		}
	}
	return &signaling.Error{Code: 2000, Name: "OT_INTERNAL_ERROR", Message: "internal error"}
}
