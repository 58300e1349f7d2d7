package crossbar

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a token lets its connection do, with OpenTok's names.
type Role string

// Roles, from least to most privileged (RolePublisherOnly aside).
const (
	// RoleSubscriber may connect, subscribe and signal.
	RoleSubscriber Role = "subscriber"
	// RolePublisher may also publish. It is the default.
	RolePublisher Role = "publisher"
	// RoleModerator may also force disconnects, unpublishes and mutes.
	RoleModerator Role = "moderator"
	// RolePublisherOnly may connect and publish, and nothing else.
	RolePublisherOnly Role = "publisheronly"
)

// Action is a client action checked against the connection's token.
type Action string

// Actions.
const (
	ActionConnect         Action = "connect"
	ActionPublish         Action = "publish"
	ActionSubscribe       Action = "subscribe"
	ActionSignal          Action = "signal"
	ActionForceDisconnect Action = "forceDisconnect"
	ActionForceUnpublish  Action = "forceUnpublish"
	ActionForceMute       Action = "forceMute"
)

// Can reports whether r permits a.
func (r Role) Can(a Action) bool {
	switch a {
	case ActionConnect:
		return r.valid()
	case ActionPublish:
		return r == RolePublisher || r == RoleModerator || r == RolePublisherOnly
	case ActionSubscribe, ActionSignal:
		return r == RoleSubscriber || r == RolePublisher || r == RoleModerator
	case ActionForceDisconnect, ActionForceUnpublish, ActionForceMute:
		return r == RoleModerator
	}
	return false
}

func (r Role) valid() bool {
	switch r {
	case RoleSubscriber, RolePublisher, RoleModerator, RolePublisherOnly:
		return true
	}
	return false
}

// Token limits, as OpenTok sets them.
const (
	DefaultTokenTTL   = 24 * time.Hour
	MaxTokenTTL       = 30 * 24 * time.Hour
	MaxConnectionData = 1000 // bytes
	MaxLayoutClasses  = 1000 // bytes, the class list joined with spaces
)

// TokenOptions are the options of GenerateToken. The zero value makes a
// publisher token valid for 24 hours.
type TokenOptions struct {
	Role                   Role      // default RolePublisher
	ExpireTime             time.Time // default now + 24 h; at most now + 30 days
	Data                   string    // connection data, at most 1000 bytes
	InitialLayoutClassList []string
}

// TokenInfo is what a verified token says.
type TokenInfo struct {
	ID                     string // see TokenID
	SessionID              string
	Role                   Role
	Data                   string
	InitialLayoutClassList []string
	IssuedAt               time.Time
	ExpireTime             time.Time
}

// tokenClaims are OpenTok's JWT token claims, so that tokens made by OpenTok's
// server SDKs with the same key and secret are accepted too.
type tokenClaims struct {
	jwt.RegisteredClaims
	Ist                    string `json:"ist"`
	Nonce                  any    `json:"nonce"`
	Scope                  string `json:"scope"`
	SessionID              string `json:"session_id"`
	Role                   string `json:"role"`
	ConnectionData         string `json:"connection_data,omitempty"`
	InitialLayoutClassList string `json:"initial_layout_class_list,omitempty"`
}

const tokenScope = "session.connect"

// TokenID identifies a token for revocation: the hex SHA-256 of its text,
// truncated to 128 bits. It is the same for every holder of the token.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

// generateToken signs a token for sessionID with the API key and secret.
func generateToken(apiKey, secret, sessionID string, opts TokenOptions, now time.Time) (string, error) {
	if opts.Role == "" {
		opts.Role = RolePublisher
	}
	if !opts.Role.valid() {
		return "", fmt.Errorf("%w: unknown role %q", ErrInvalidOption, opts.Role)
	}
	exp := opts.ExpireTime
	if exp.IsZero() {
		exp = now.Add(DefaultTokenTTL)
	}
	if !exp.After(now) {
		return "", fmt.Errorf("%w: expire time %s is not in the future", ErrInvalidOption, exp.Format(time.RFC3339))
	}
	if exp.Sub(now) > MaxTokenTTL {
		return "", fmt.Errorf("%w: expire time %s is more than 30 days ahead", ErrInvalidOption, exp.Format(time.RFC3339))
	}
	if len(opts.Data) > MaxConnectionData {
		return "", fmt.Errorf("%w: connection data is %d bytes, at most %d", ErrInvalidOption, len(opts.Data), MaxConnectionData)
	}
	layout := strings.Join(opts.InitialLayoutClassList, " ")
	if len(layout) > MaxLayoutClasses {
		return "", fmt.Errorf("%w: layout class list is %d bytes, at most %d", ErrInvalidOption, len(layout), MaxLayoutClasses)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("crossbar: token nonce: %w", err)
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    apiKey,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Ist:                    "project",
		Nonce:                  hex.EncodeToString(nonce[:]),
		Scope:                  tokenScope,
		SessionID:              sessionID,
		Role:                   string(opts.Role),
		ConnectionData:         opts.Data,
		InitialLayoutClassList: layout,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("crossbar: sign token: %w", err)
	}
	return s, nil
}

// maxTokenSize bounds a token's text: a token with the largest connection
// data and layout class list OpenTok allows is under 3 kB.
const maxTokenSize = 8 << 10

// tokenLeeway tolerates clock skew between the host that signed a token and
// this one, for the not-before and issued-at checks only.
const tokenLeeway = 30 * time.Second

// hs256Parser parses JWTs signed with HS256 that expire, and were not
// issued after now (with tokenLeeway for either).
func hs256Parser(now time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
	)
}

// verifyToken checks a token's signature (HS256 only, or a legacy T1
// token's), its claims and its validity at now. It does not check revocation or the session it names.
func verifyToken(apiKey, secret, raw string, now time.Time) (*TokenInfo, error) {
	if len(raw) > maxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidToken, len(raw), maxTokenSize)
	}
	if strings.HasPrefix(raw, t1Prefix) {
		return verifyT1Token(apiKey, secret, raw, now)
	}
	var c tokenClaims
	_, err := hs256Parser(now).ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: expired at %s", ErrTokenExpired, c.ExpiresAt.Time.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, fmt.Errorf("%w: %w", ErrTokenNotYetValid, err)
	default:
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// The leeway must not extend a token's life: check expiry exactly.
	if !now.Before(c.ExpiresAt.Time) {
		return nil, fmt.Errorf("%w: expired at %s", ErrTokenExpired, c.ExpiresAt.Time.UTC().Format(time.RFC3339))
	}
	switch {
	case c.Issuer != apiKey:
		return nil, fmt.Errorf("%w: issued for API key %q", ErrInvalidToken, c.Issuer)
	case c.Ist != "project":
		return nil, fmt.Errorf("%w: issuer type %q, want \"project\"", ErrInvalidToken, c.Ist)
	case c.Scope != tokenScope:
		return nil, fmt.Errorf("%w: scope %q, want %q", ErrInvalidToken, c.Scope, tokenScope)
	case c.SessionID == "":
		return nil, fmt.Errorf("%w: no session_id", ErrInvalidToken)
	}
	if err := numericTimes(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	g := grant{sessionID: c.SessionID, role: c.Role, data: c.ConnectionData, layout: c.InitialLayoutClassList, expires: c.ExpiresAt.Time}
	if c.IssuedAt != nil {
		g.issued = c.IssuedAt.Time
	}
	return g.info(raw, now)
}

// grant is what a verified token grants, whatever its format.
type grant struct {
	sessionID, role, data string
	layout                string // the classes, joined with spaces
	issued, expires       time.Time
}

// info holds a correctly signed token to what GenerateToken would make (a
// life of at most 30 days, connection data and layout classes within
// OpenTok's sizes, a known role) and returns what it says.
func (g grant) info(raw string, now time.Time) (*TokenInfo, error) {
	if err := g.check(now); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	info := &TokenInfo{
		ID:         TokenID(raw),
		SessionID:  g.sessionID,
		Role:       Role(g.role),
		Data:       g.data,
		IssuedAt:   g.issued,
		ExpireTime: g.expires,
	}
	if g.layout != "" {
		info.InitialLayoutClassList = strings.Fields(g.layout)
	}
	if info.Role == "" {
		info.Role = RolePublisher
	}
	if !info.Role.valid() {
		return nil, fmt.Errorf("%w: unknown role %q", ErrInvalidToken, g.role)
	}
	return info, nil
}

// check returns what of g is out of bounds at now.
func (g grant) check(now time.Time) error {
	limit := MaxTokenTTL + tokenLeeway
	if d := g.expires.Sub(now); d > limit {
		return fmt.Errorf("expires in %v, more than 30 days ahead", d.Round(time.Hour))
	}
	if !g.issued.IsZero() {
		if d := g.expires.Sub(g.issued); d > limit {
			return fmt.Errorf("valid for %v from its issue, more than 30 days", d.Round(time.Hour))
		}
	}
	if len(g.data) > MaxConnectionData {
		return fmt.Errorf("connection data is %d bytes, at most %d", len(g.data), MaxConnectionData)
	}
	if len(g.layout) > MaxLayoutClasses {
		return fmt.Errorf("layout class list is %d bytes, at most %d", len(g.layout), MaxLayoutClasses)
	}
	return nil
}

// numericTimes checks that a token's time claims are JSON numbers.
func numericTimes(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		v, ok := claims[name]
		if ok && (len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return fmt.Errorf("%s is %s, not a number", name, v)
		}
	}
	return nil
}
