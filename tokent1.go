package crossbar

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Legacy "T1" tokens, which older OpenTok server SDKs still make (and the
// current ones on request): "T1==" and the base64 of
// "partner_id=<apiKey>&sig=<hex HMAC-SHA1 of payload>:<payload>", the
// payload URL-encoded session_id, create_time, expire_time, role, nonce,
// connection_data, initial_layout_class_list and scope.

// t1Prefix starts every T1 token.
const t1Prefix = "T1=="

// verifyT1Token checks a T1 token as verifyToken checks a JWT.
func verifyT1Token(apiKey, secret, raw string, now time.Time) (*TokenInfo, error) {
	body, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(raw, t1Prefix))
	if err != nil {
		return nil, fmt.Errorf("%w: T1 token: %w", ErrInvalidToken, err)
	}
	head, payload, ok := strings.Cut(string(body), ":")
	if !ok {
		return nil, fmt.Errorf("%w: T1 token has no payload", ErrInvalidToken)
	}
	h, err := url.ParseQuery(head)
	if err != nil {
		return nil, fmt.Errorf("%w: T1 token header: %w", ErrInvalidToken, err)
	}
	if h.Get("partner_id") != apiKey {
		return nil, fmt.Errorf("%w: issued for API key %q", ErrInvalidToken, h.Get("partner_id"))
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(payload))
	if sig, err := hex.DecodeString(h.Get("sig")); err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, fmt.Errorf("%w: T1 token signature is not the API secret's", ErrInvalidToken)
	}
	p, err := url.ParseQuery(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: T1 token payload: %w", ErrInvalidToken, err)
	}
	created, err := unixField(p, "create_time")
	if err != nil {
		return nil, err
	}
	expires, err := unixField(p, "expire_time")
	if err != nil {
		return nil, err
	}
	switch {
	case !now.Before(expires):
		return nil, fmt.Errorf("%w: expired at %s", ErrTokenExpired, expires.UTC().Format(time.RFC3339))
	case created.After(now.Add(tokenLeeway)):
		return nil, fmt.Errorf("%w: created at %s", ErrTokenNotYetValid, created.UTC().Format(time.RFC3339))
	case p.Get("scope") != "" && p.Get("scope") != tokenScope:
		return nil, fmt.Errorf("%w: scope %q, want %q", ErrInvalidToken, p.Get("scope"), tokenScope)
	case p.Get("session_id") == "":
		return nil, fmt.Errorf("%w: no session_id", ErrInvalidToken)
	}
	g := grant{sessionID: p.Get("session_id"), role: p.Get("role"), data: p.Get("connection_data"),
		layout: p.Get("initial_layout_class_list"), issued: created, expires: expires}
	return g.info(raw, now)
}

// unixField returns a T1 payload's time field, in seconds since the epoch.
func unixField(p url.Values, name string) (time.Time, error) {
	n, err := strconv.ParseInt(p.Get(name), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: T1 token %s %q is not a number of seconds", ErrInvalidToken, name, p.Get(name))
	}
	return time.Unix(n, 0), nil
}
