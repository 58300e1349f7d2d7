package crossbar_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/sfu"
)

func newServer(t testing.TB) *crossbar.Server {
	t.Helper()
	srv, err := crossbar.New(crossbar.Config{APIKey: testKey, APISecret: testSecret, Media: sfu.Config{LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// openTokClaims are the claims OpenTok's Node SDK puts in a token, numeric
// nonce and create/expire times included.
func openTokClaims(sessionID string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":                       testKey,
		"ist":                       "project",
		"iat":                       now.Unix(),
		"exp":                       now.Add(time.Hour).Unix(),
		"nonce":                     0.7342019181,
		"scope":                     "session.connect",
		"session_id":                sessionID,
		"role":                      "moderator",
		"connection_data":           "name=Ann",
		"initial_layout_class_list": "focus full",
		"create_time":               now.Unix(),
		"expire_time":               now.Add(time.Hour).Unix(),
	}
}

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenRoundTrip(t *testing.T) {
	srv := newServer(t)
	s, err := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	tok, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{
		Role: crossbar.RoleModerator, ExpireTime: exp, Data: "user=42", InitialLayoutClassList: []string{"a", "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := srv.VerifyToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if info.SessionID != s.ID() || info.Role != crossbar.RoleModerator || info.Data != "user=42" ||
		!info.ExpireTime.Equal(exp) || strings.Join(info.InitialLayoutClassList, ",") != "a,b" || info.ID != crossbar.TokenID(tok) {
		t.Fatalf("token info %+v", info)
	}
	// The claims are OpenTok's own.
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"iss", "ist", "iat", "exp", "nonce", "scope", "session_id", "role", "connection_data", "initial_layout_class_list"} {
		if _, ok := claims[name]; !ok {
			t.Errorf("claim %s missing", name)
		}
	}
	if claims["iss"] != testKey || claims["ist"] != "project" || claims["scope"] != "session.connect" || claims["initial_layout_class_list"] != "a b" {
		t.Errorf("claims %v", claims)
	}
	// Default role is publisher.
	tok, _ = srv.GenerateToken(s.ID(), crossbar.TokenOptions{})
	if info, err := srv.VerifyToken(context.Background(), tok); err != nil || info.Role != crossbar.RolePublisher {
		t.Fatalf("default role: %v %v", info, err)
	}
}

func TestTokenMadeByOpenTokSDKIsAccepted(t *testing.T) {
	srv := newServer(t)
	s, _ := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), openTokClaims(s.ID(), time.Now()))
	info, err := srv.VerifyToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if info.Role != crossbar.RoleModerator || info.Data != "name=Ann" || len(info.InitialLayoutClassList) != 2 {
		t.Fatalf("info %+v", info)
	}
}

func TestTokenFailures(t *testing.T) {
	srv := newServer(t)
	s, _ := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	now := time.Now()
	with := func(f func(c jwt.MapClaims)) jwt.MapClaims {
		c := openTokClaims(s.ID(), now)
		f(c)
		return c
	}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(testSecret), c) }
	valid := hs(openTokClaims(s.ID(), now))
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, openTokClaims(s.ID(), now))
	hs512 := sign(t, jwt.SigningMethodHS512, []byte(testSecret), openTokClaims(s.ID(), now))
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"wrong signature", sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-16+"), openTokClaims(s.ID(), now)), crossbar.ErrInvalidToken},
		{"alg none", noneTok, crossbar.ErrInvalidToken},
		{"alg HS512", hs512, crossbar.ErrInvalidToken},
		{"tampered payload", tampered, crossbar.ErrInvalidToken},
		{"garbage", "not.a.token", crossbar.ErrInvalidToken},
		{"empty", "", crossbar.ErrInvalidToken},
		{"expired", hs(with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Second).Unix() })), crossbar.ErrTokenExpired},
		{"no expiry", hs(with(func(c jwt.MapClaims) { delete(c, "exp") })), crossbar.ErrInvalidToken},
		{"not yet valid", hs(with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), crossbar.ErrTokenNotYetValid},
		{"issued in the future", hs(with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })), crossbar.ErrTokenNotYetValid},
		{"other API key", hs(with(func(c jwt.MapClaims) { c["iss"] = "999" })), crossbar.ErrInvalidToken},
		{"wrong issuer type", hs(with(func(c jwt.MapClaims) { c["ist"] = "account" })), crossbar.ErrInvalidToken},
		{"wrong scope", hs(with(func(c jwt.MapClaims) { c["scope"] = "session.admin" })), crossbar.ErrInvalidToken},
		{"no session", hs(with(func(c jwt.MapClaims) { delete(c, "session_id") })), crossbar.ErrInvalidToken},
		{"unknown role", hs(with(func(c jwt.MapClaims) { c["role"] = "admin" })), crossbar.ErrInvalidToken},
		// Correctly signed, but not what GenerateToken would make.
		{"expiry as a string", hs(with(func(c jwt.MapClaims) { c["exp"] = strconv.FormatInt(now.Add(time.Hour).Unix(), 10) })), crossbar.ErrInvalidToken},
		{"issue time as a string", hs(with(func(c jwt.MapClaims) { c["iat"] = strconv.FormatInt(now.Unix(), 10) })), crossbar.ErrInvalidToken},
		{"expiry in 100 years", hs(with(func(c jwt.MapClaims) { c["exp"] = now.AddDate(100, 0, 0).Unix() })), crossbar.ErrInvalidToken},
		{"31 days from issue", hs(with(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-2 * 24 * time.Hour).Unix()
			c["exp"] = now.Add(29 * 24 * time.Hour).Unix()
		})), crossbar.ErrInvalidToken},
		{"60 kB of data", hs(with(func(c jwt.MapClaims) { c["connection_data"] = strings.Repeat("x", 60_000) })), crossbar.ErrInvalidToken},
		{"1001 bytes of data", hs(with(func(c jwt.MapClaims) { c["connection_data"] = strings.Repeat("x", 1001) })), crossbar.ErrInvalidToken},
		{"layout too long", hs(with(func(c jwt.MapClaims) { c["initial_layout_class_list"] = strings.Repeat("x ", 501) })), crossbar.ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := srv.VerifyToken(context.Background(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if code := crossbar.ClientError(err).Code; code != 1004 {
				t.Fatalf("client code %d, want 1004", code)
			}
		})
	}

	t.Run("at the limits", func(t *testing.T) {
		tok, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{
			ExpireTime: now.Add(crossbar.MaxTokenTTL), Data: strings.Repeat("x", crossbar.MaxConnectionData),
			InitialLayoutClassList: []string{strings.Repeat("y", crossbar.MaxLayoutClasses)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.VerifyToken(context.Background(), tok); err != nil {
			t.Fatalf("a token GenerateToken made at its limits was refused: %v", err)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		if err := srv.RevokeToken(context.Background(), crossbar.TokenID(valid)); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.VerifyToken(context.Background(), valid); !errors.Is(err, crossbar.ErrTokenRevoked) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestGenerateTokenOptions(t *testing.T) {
	srv := newServer(t)
	s, _ := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	cases := []struct {
		name string
		id   string
		opts crossbar.TokenOptions
		want error
	}{
		{"bad role", s.ID(), crossbar.TokenOptions{Role: "admin"}, crossbar.ErrInvalidOption},
		{"expiry in the past", s.ID(), crossbar.TokenOptions{ExpireTime: time.Now().Add(-time.Minute)}, crossbar.ErrInvalidOption},
		{"expiry beyond 30 days", s.ID(), crossbar.TokenOptions{ExpireTime: time.Now().Add(31 * 24 * time.Hour)}, crossbar.ErrInvalidOption},
		{"data too long", s.ID(), crossbar.TokenOptions{Data: strings.Repeat("x", 1001)}, crossbar.ErrInvalidOption},
		{"layout too long", s.ID(), crossbar.TokenOptions{InitialLayoutClassList: []string{strings.Repeat("x", 1001)}}, crossbar.ErrInvalidOption},
		{"malformed session id", "nope", crossbar.TokenOptions{}, crossbar.ErrInvalidSessionID},
		{"another API key's session", "1_" + base64.RawURLEncoding.EncodeToString([]byte("1~999~~1700000000000~abc")), crossbar.TokenOptions{}, crossbar.ErrInvalidSessionID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := srv.GenerateToken(tc.id, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The limits themselves are allowed.
	if _, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{Data: strings.Repeat("x", 1000), ExpireTime: time.Now().Add(30*24*time.Hour - time.Minute)}); err != nil {
		t.Fatal(err)
	}
}

func TestRolePermissions(t *testing.T) {
	all := []crossbar.Action{crossbar.ActionConnect, crossbar.ActionPublish, crossbar.ActionSubscribe, crossbar.ActionSignal,
		crossbar.ActionForceDisconnect, crossbar.ActionForceUnpublish, crossbar.ActionForceMute}
	allowed := map[crossbar.Role][]crossbar.Action{
		crossbar.RoleSubscriber:    {crossbar.ActionConnect, crossbar.ActionSubscribe, crossbar.ActionSignal},
		crossbar.RolePublisher:     {crossbar.ActionConnect, crossbar.ActionPublish, crossbar.ActionSubscribe, crossbar.ActionSignal},
		crossbar.RoleModerator:     all,
		crossbar.RolePublisherOnly: {crossbar.ActionConnect, crossbar.ActionPublish},
		"admin":                    nil,
	}
	for role, yes := range allowed {
		for _, a := range all {
			want := false
			for _, y := range yes {
				want = want || y == a
			}
			if got := role.Can(a); got != want {
				t.Errorf("%s.Can(%s) = %v, want %v", role, a, got, want)
			}
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	srv := newServer(f)
	s, _ := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	tok, _ := srv.GenerateToken(s.ID(), crossbar.TokenOptions{})
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		info, err := srv.VerifyToken(context.Background(), token)
		if err == nil && (info.SessionID == "" || info.ID != crossbar.TokenID(token)) {
			t.Fatalf("accepted token with info %+v", info)
		}
		if err != nil && crossbar.ClientError(err).Code != 1004 {
			t.Fatalf("error %v has code %d", err, crossbar.ClientError(err).Code)
		}
	})
}
