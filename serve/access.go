package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// hashKey hashes an API key so that comparisons run in constant time regardless of
// the lengths involved.
func hashKey(k string) [32]byte { return sha256.Sum256([]byte(k)) }

// authorize checks the bearer API key when keys are configured. Every configured key
// is compared (constant time each), so timing does not tell which key nearly matched.
// A client that sent too many wrong or missing keys lately (Config.AuthFailures per
// minute) gets 429 before its key is even looked at, so that guessing cannot go
// faster than that and a 429 tells nothing about the key that came with it.
func (s *Server) authorize(r *http.Request) error {
	if len(s.keys) == 0 {
		return nil
	}
	client := clientKey(clientIP(r))
	if s.authFails != nil {
		if wait, blocked := s.authFails.exhausted(client, time.Now()); blocked {
			s.m.rejections.WithLabelValues("auth_failures").Inc()
			e := errorf(http.StatusTooManyRequests, codeRateLimited, "too many failed API keys from %s; wait before trying again", client)
			e.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
			return e
		}
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		s.authFailed(client)
		return errorf(http.StatusUnauthorized, codeUnauthorized, "missing API key: send the header \"Authorization: Bearer <key>\"")
	}
	got := hashKey(strings.TrimSpace(token))
	match := 0
	for _, k := range s.keys {
		match |= subtle.ConstantTimeCompare(got[:], k[:])
	}
	if match != 1 {
		s.authFailed(client)
		return errorf(http.StatusUnauthorized, codeUnauthorized, "invalid API key")
	}
	return nil
}

// authFailed counts one failed API key against client.
func (s *Server) authFailed(client string) {
	s.m.rejections.WithLabelValues("unauthorized").Inc()
	if s.authFails != nil {
		s.authFails.allow(client, time.Now())
	}
}

// clientIP is the remote IP of r (proxies' forwarding headers are not trusted).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimit applies the per-client token bucket (client = remote IP, an IPv6 one by
// its /64, see clientKey; proxies' forwarding headers are not trusted).
func (s *Server) rateLimit(r *http.Request) error {
	if s.limiter == nil {
		return nil
	}
	host := clientKey(clientIP(r))
	if wait, ok := s.limiter.allow(host, time.Now()); !ok {
		s.m.rejections.WithLabelValues("rate_limited").Inc()
		e := errorf(http.StatusTooManyRequests, codeRateLimited, "too many requests from %s; slow down", host)
		e.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
		return e
	}
	return nil
}

// rateLimiter is a token bucket per client: rate tokens per second, at most burst
// saved up. Idle buckets are dropped by a sweep so the map cannot grow without bound.
type rateLimiter struct {
	mu        sync.Mutex
	rate      float64
	burst     float64
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// exhausted reports whether key's bucket has no whole token at now, and how long
// until it has one, without taking any.
func (l *rateLimiter) exhausted(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0, false
	}
	tokens := math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / l.rate * float64(time.Second)), true
}

// allow takes a token for key at now, or says how long until one is available.
func (l *rateLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.last).Seconds()*l.rate >= l.burst {
				delete(l.buckets, k) // full again: same as a fresh bucket
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}
