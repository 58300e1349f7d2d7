package crossbar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// REST calls are authenticated as OpenTok's: the X-OPENTOK-AUTH header
// holds a JWT signed with the API secret (HS256), whose claims are
// {iss: API key, ist: "project", iat, exp, jti}.

// maxAuthLife is how far ahead a REST call's JWT may expire.
const maxAuthLife = 5 * time.Minute

// errAuth is a REST call's failed authentication (HTTP 403).
var errAuth = errors.New("crossbar: REST authentication failed")

// restClaims are the claims of a REST call's JWT.
type restClaims struct {
	jwt.RegisteredClaims
	Ist string `json:"ist"`
}

// authorize checks the JWT of a REST call. A JWT with a jti is accepted
// once: a replay is refused until it expires. (OpenTok's Node SDK sends
// none; its Python SDK does.)
func (srv *Server) authorize(ctx context.Context, r *http.Request) error {
	raw := r.Header.Get("X-OPENTOK-AUTH")
	if raw == "" {
		return fmt.Errorf("%w: no X-OPENTOK-AUTH header", errAuth)
	}
	now := srv.cfg.Clock.Now()
	var c restClaims
	if _, err := hs256Parser(now).ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return []byte(srv.cfg.APISecret), nil }); err != nil {
		return fmt.Errorf("%w: %w", errAuth, err)
	}
	exp := c.ExpiresAt.Time
	switch {
	case c.Issuer != srv.cfg.APIKey:
		return fmt.Errorf("%w: issuer %q is not this project's API key", errAuth, c.Issuer)
	case c.Ist != "project":
		return fmt.Errorf("%w: issuer type %q, want \"project\"", errAuth, c.Ist)
	case !now.Before(exp):
		return fmt.Errorf("%w: JWT expired at %s", errAuth, exp.UTC().Format(time.RFC3339))
	case exp.Sub(now) > maxAuthLife+tokenLeeway:
		return fmt.Errorf("%w: JWT expires in %v, more than %v ahead", errAuth, exp.Sub(now).Round(time.Second), maxAuthLife)
	}
	if c.ID == "" {
		return nil
	}
	fresh, err := srv.claimOnce(ctx, "jti:"+c.Issuer+":"+c.ID, exp.Sub(now))
	switch {
	case err != nil:
		return fmt.Errorf("crossbar: REST JWT replay check: %w", err)
	case !fresh:
		return fmt.Errorf("%w: JWT %q was used before", errAuth, c.ID)
	}
	return nil
}

// claimOnce reports whether key was not claimed in the last ttl, and
// claims it: on the cluster's bus, so that every node sees it, or in this
// process.
func (srv *Server) claimOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if srv.bus != nil {
		return srv.bus.Claim(ctx, key, ttl)
	}
	return srv.claims.claim(key, srv.cfg.Clock.Now(), ttl), nil
}

// onceSet keeps keys until they expire.
type onceSet struct {
	mu     sync.Mutex
	until  map[string]time.Time
	pruned time.Time
}

// claim adds key until now+ttl, unless it is there: then it reports false.
func (o *onceSet) claim(key string, now time.Time, ttl time.Duration) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if now.Sub(o.pruned) > time.Second {
		o.pruned = now
		for k, u := range o.until {
			if !now.Before(u) {
				delete(o.until, k)
			}
		}
	}
	if u, ok := o.until[key]; ok && now.Before(u) {
		return false
	}
	if o.until == nil {
		o.until = map[string]time.Time{}
	}
	o.until[key] = now.Add(ttl)
	return true
}
