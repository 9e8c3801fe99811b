package serve

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// hostPolicy decides which Host headers the server answers. A web page that
// rebinds its own DNS name to 127.0.0.1 reaches a loopback server with its own name
// in Host; answering only our own names and addresses stops it reading anything.
// IP literals cannot be rebound, so loopback addresses, the bound address and, when
// bound to all interfaces, any IP address are allowed; names must be loopback names
// or listed in Config.AllowedHosts.
type hostPolicy struct {
	any   bool
	names map[string]bool // lower case, no port

	mu       sync.RWMutex
	bound    map[string]bool // bound IP addresses, canonical form
	wildcard bool            // bound to 0.0.0.0 or ::
}

// newHostPolicy builds the policy for a server listening on addr.
func newHostPolicy(addr string, allowed []string) (*hostPolicy, error) {
	p := &hostPolicy{names: map[string]bool{}, bound: map[string]bool{}}
	for _, h := range allowed {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
			continue
		case h == "*":
			p.any = true
		case strings.ContainsAny(h, "/ ") || strings.Contains(h, "://"):
			return nil, fmt.Errorf("serve: allowed host %q: give a host name like photos.example.com, without scheme, path or port", h)
		default:
			p.names[canonicalHost(h)] = true
		}
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		p.addHost(host)
	}
	return p, nil
}

// addBound adds the address a listener is bound to.
func (p *hostPolicy) addBound(a net.Addr) {
	if a == nil {
		return
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		p.addHost(host)
	}
}

func (p *hostPolicy) addHost(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if host == "" {
		p.wildcard = true
		return
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	switch {
	case ip == nil:
		p.names[canonicalHost(host)] = true
	case ip.IsUnspecified():
		p.wildcard = true
	default:
		p.bound[ip.String()] = true
	}
}

// canonicalHost lower-cases a host name and drops a port, brackets and a final dot.
func canonicalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// allows reports whether a request naming hostport in its Host header is answered.
func (p *hostPolicy) allows(hostport string) bool {
	if p.any || hostport == "" { // no Host: HTTP/1.0, not a browser
		return true
	}
	if _, port, err := net.SplitHostPort(hostport); err == nil && !validPort(port) {
		return false // "127.0.0.1:80@evil.example" names no port of ours
	}
	h := canonicalHost(hostport)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || p.names[h] {
		return true
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.wildcard || p.bound[ip.String()]
}

// checkHost refuses a request whose Host header names neither this server's
// address nor an allowed host.
func (s *Server) checkHost(r *http.Request) error {
	if s.hosts.allows(r.Host) {
		return nil
	}
	s.m.rejections.WithLabelValues("bad_host").Inc()
	return errorf(http.StatusForbidden, codeForbidden,
		"this server does not answer for host %q; if that is its name, start it with --allowed-hosts %s (or AUTOTAG_ALLOWED_HOSTS)",
		r.Host, canonicalHost(r.Host))
}

// checkCrossSite refuses a state-changing request (POST) that a browser sent from
// another site, unless that site's origin is in Config.CORSOrigins: without it, any
// web page could make its visitors' browsers post forms to a local server.
func (s *Server) checkCrossSite(r *http.Request) error {
	if err := s.crossSite.Check(r); err != nil {
		s.m.rejections.WithLabelValues("cross_site").Inc()
		return wrapErr(http.StatusForbidden, codeForbidden, err,
			"cross-site %s refused: allow the calling page's origin with --cors-origin (or AUTOTAG_CORS_ORIGIN)", r.Method)
	}
	return nil
}

// validPort reports whether port is empty or a decimal TCP port number.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n > 0 && port[0] != '+'
}
