package serve

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// Every open connection holds a file descriptor and some memory, however idle it
// is: without a bound, one client opening keep-alive connections (or dribbling
// headers, each for up to ReadHeaderTimeout) runs the process out of descriptors
// and everyone else's connections fail. connLimiter caps open connections in all
// (Config.MaxConns) and per client (Config.MaxConnsPerClient, clients keyed as for
// the rate limits). A connection past a cap first makes room by closing an idle
// keep-alive connection (of the same client for the per-client cap), which HTTP
// clients expect and retry on; with none idle, the new connection is closed at once.
type connLimiter struct {
	maxTotal, maxPerClient int // ≤ 0: no cap
	onRefuse               func()

	mu       sync.Mutex
	total    int
	perKey   map[string]int
	idle     map[*limitedConn]bool
	byServer map[net.Conn]*limitedConn // the conn http.Server sees (a *tls.Conn for HTTPS) → ours
}

func newConnLimiter(maxTotal, maxPerClient int, onRefuse func()) *connLimiter {
	return &connLimiter{maxTotal: maxTotal, maxPerClient: maxPerClient, onRefuse: onRefuse,
		perKey: map[string]int{}, idle: map[*limitedConn]bool{}, byServer: map[net.Conn]*limitedConn{}}
}

// limitedConn is an accepted connection counted by a connLimiter until closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		l := c.l
		l.mu.Lock()
		l.total--
		if l.perKey[c.key]--; l.perKey[c.key] <= 0 {
			delete(l.perKey, c.key)
		}
		delete(l.idle, c)
		l.mu.Unlock()
	})
	return c.Conn.Close()
}

// limitListener applies a connLimiter to the connections a listener accepts.
type limitListener struct {
	net.Listener
	l *connLimiter
}

func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := ln.l.admit(c); lc != nil {
			return lc, nil
		}
		ln.l.onRefuse()
		_ = c.Close()
	}
}

// admit counts c in, closing an idle connection to make room when a cap is reached;
// nil: no room, c must be closed.
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	key := clientKey(remoteHost(c.RemoteAddr()))
	var victims []*limitedConn
	l.mu.Lock()
	if l.maxPerClient > 0 && l.perKey[key] >= l.maxPerClient {
		v := l.idleConn(func(o *limitedConn) bool { return o.key == key })
		if v == nil {
			l.mu.Unlock()
			return nil
		}
		victims = append(victims, v)
	} else if l.maxTotal > 0 && l.total >= l.maxTotal {
		v := l.idleConn(func(*limitedConn) bool { return true })
		if v == nil {
			l.mu.Unlock()
			return nil
		}
		victims = append(victims, v)
	}
	// A victim still counts until its Close runs below; the new one counts now.
	l.total++
	l.perKey[key]++
	lc := &limitedConn{Conn: c, l: l, key: key}
	l.mu.Unlock()
	for _, v := range victims {
		_ = v.Close()
	}
	return lc
}

// idleConn takes an idle connection that ok accepts out of the idle set (l.mu held).
func (l *connLimiter) idleConn(ok func(*limitedConn) bool) *limitedConn {
	for c := range l.idle {
		if ok(c) {
			delete(l.idle, c)
			return c
		}
	}
	return nil
}

// connState is the http.Server's ConnState hook: it keeps the set of idle
// keep-alive connections, the ones that may be closed to make room.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lc, ok := l.byServer[c]
	if !ok {
		lc = unwrapLimited(c)
		if lc == nil {
			return
		}
		l.byServer[c] = lc
	}
	switch st {
	case http.StateIdle:
		l.idle[lc] = true
	case http.StateClosed, http.StateHijacked:
		delete(l.idle, lc)
		delete(l.byServer, c)
	default:
		delete(l.idle, lc)
	}
}

// unwrapLimited finds the limitedConn under c (c itself, or under a *tls.Conn).
func unwrapLimited(c net.Conn) *limitedConn {
	for range 4 {
		if lc, ok := c.(*limitedConn); ok {
			return lc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

// remoteHost is the IP address of a network address, as text ("" when it has none).
func remoteHost(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// clientKey is the identity per-client limits count against: an IPv4 address, or
// the /64 network of an IPv6 address, since one IPv6 host is handed a whole /64 and
// could otherwise take a fresh address, and a fresh allowance, for every request.
// An IPv4 address written as IPv6 (::ffff:a.b.c.d) is the IPv4 address.
func clientKey(host string) string {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return host
	}
	return p.String()
}
