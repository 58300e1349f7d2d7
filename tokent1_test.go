package crossbar_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

// t1Token makes a legacy T1 token as OpenTok's opentok-token package does.
func t1Token(key, secret string, fields url.Values) string {
	payload := fields.Encode()
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(payload))
	return "T1==" + base64.StdEncoding.EncodeToString([]byte("partner_id="+key+"&sig="+hex.EncodeToString(mac.Sum(nil))+":"+payload))
}

func t1Fields(sessionID string, now time.Time) url.Values {
	return url.Values{
		"session_id":                {sessionID},
		"create_time":               {strconv.FormatInt(now.Unix(), 10)},
		"expire_time":               {strconv.FormatInt(now.Add(time.Hour).Unix(), 10)},
		"nonce":                     {"0.4513"},
		"role":                      {"moderator"},
		"connection_data":           {"name=Ann&id=7"},
		"initial_layout_class_list": {"focus full"},
		"scope":                     {"session.connect"},
	}
}

func TestT1TokenIsAccepted(t *testing.T) {
	srv := newServer(t)
	s, _ := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	tok := t1Token(testKey, testSecret, t1Fields(s.ID(), time.Now()))
	info, err := srv.VerifyToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if info.SessionID != s.ID() || info.Role != crossbar.RoleModerator || info.Data != "name=Ann&id=7" ||
		strings.Join(info.InitialLayoutClassList, ",") != "focus,full" || info.ID != crossbar.TokenID(tok) {
		t.Fatalf("%+v", info)
	}
}

func TestT1TokenFailures(t *testing.T) {
	srv := newServer(t)
	s, _ := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	now := time.Now()
	with := func(f func(v url.Values)) url.Values {
		v := t1Fields(s.ID(), now)
		f(v)
		return v
	}
	valid := t1Token(testKey, testSecret, t1Fields(s.ID(), now))
	body, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(valid, "T1=="))
	tampered := "T1==" + base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(body), "moderator", "publisher", 1)))
	cases := []struct {
		name, token string
		want        error
	}{
		{"wrong secret", t1Token(testKey, "another-secret-of-16+", t1Fields(s.ID(), now)), crossbar.ErrInvalidToken},
		{"other API key", t1Token("999", testSecret, t1Fields(s.ID(), now)), crossbar.ErrInvalidToken},
		{"tampered payload", tampered, crossbar.ErrInvalidToken},
		{"not base64", "T1==%%%", crossbar.ErrInvalidToken},
		{"no payload", "T1==" + base64.StdEncoding.EncodeToString([]byte("partner_id="+testKey)), crossbar.ErrInvalidToken},
		{"expired", t1Token(testKey, testSecret, with(func(v url.Values) { v.Set("expire_time", strconv.FormatInt(now.Add(-time.Second).Unix(), 10)) })), crossbar.ErrTokenExpired},
		{"no expiry", t1Token(testKey, testSecret, with(func(v url.Values) { v.Del("expire_time") })), crossbar.ErrInvalidToken},
		{"created in the future", t1Token(testKey, testSecret, with(func(v url.Values) { v.Set("create_time", strconv.FormatInt(now.Add(time.Hour).Unix(), 10)) })), crossbar.ErrTokenNotYetValid},
		{"expiry in 100 years", t1Token(testKey, testSecret, with(func(v url.Values) { v.Set("expire_time", strconv.FormatInt(now.AddDate(100, 0, 0).Unix(), 10)) })), crossbar.ErrInvalidToken},
		{"wrong scope", t1Token(testKey, testSecret, with(func(v url.Values) { v.Set("scope", "session.admin") })), crossbar.ErrInvalidToken},
		{"unknown role", t1Token(testKey, testSecret, with(func(v url.Values) { v.Set("role", "admin") })), crossbar.ErrInvalidToken},
		{"1001 bytes of data", t1Token(testKey, testSecret, with(func(v url.Values) { v.Set("connection_data", strings.Repeat("x", 1001)) })), crossbar.ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := srv.VerifyToken(context.Background(), tc.token); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
