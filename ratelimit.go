package crossbar

import "time"

// rateLimiter is a token bucket. It is not safe for concurrent use.
type rateLimiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newRateLimiter(rate, burst float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, tokens: burst}
}

// allow takes n tokens if the bucket holds them, and reports whether it did.
func (r *rateLimiter) allow(now time.Time, n float64) bool {
	if !r.has(now, n) {
		return false
	}
	r.take(n)
	return true
}

// has refills the bucket for the time up to now and reports whether it
// holds n tokens.
func (r *rateLimiter) has(now time.Time, n float64) bool {
	if !r.last.IsZero() {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	return r.tokens >= n
}

// take removes n tokens, which has said the bucket holds.
func (r *rateLimiter) take(n float64) { r.tokens -= n }
