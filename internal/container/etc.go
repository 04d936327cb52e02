package container

import (
	"bufio"
	"fmt"
	"net/netip"
	"strings"
)

// HostsEntry is one line of /etc/hosts.
type HostsEntry struct {
	Addr  string
	Names []string
}

// HostsFile renders /etc/hosts: the usual localhost lines, the container's
// own addresses and names, then the --add-host entries.
func HostsFile(own []HostsEntry, extra []HostsEntry) []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, e := range append(own, extra...) {
		fmt.Fprintf(&b, "%s\t%s\n", e.Addr, strings.Join(e.Names, " "))
	}
	return []byte(b.String())
}

// ParseExtraHost parses an --add-host value "name:addr" (addr may be an IPv6
// address, or "host-gateway", replaced by hostGateway).
func ParseExtraHost(s string, hostGateway netip.Addr) (HostsEntry, error) {
	name, addr, ok := strings.Cut(s, ":")
	if !ok || name == "" || addr == "" {
		if name, addr, ok = strings.Cut(s, "="); !ok {
			return HostsEntry{}, fmt.Errorf("invalid argument %q for \"--add-host\" flag: bad format for add-host", s)
		}
	}
	if addr == "host-gateway" {
		if !hostGateway.IsValid() {
			return HostsEntry{}, fmt.Errorf("add-host %q: no host gateway address on this network", s)
		}
		addr = hostGateway.String()
	}
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return HostsEntry{}, fmt.Errorf("invalid IP address in add-host: %q", addr)
	}
	return HostsEntry{Addr: a.String(), Names: []string{name}}, nil
}

// ResolvConf is the parsed content of a resolv.conf.
type ResolvConf struct {
	Nameservers []netip.Addr
	Search      []string
	Options     []string
}

// ParseResolvConf reads nameserver, search/domain and options lines.
func ParseResolvConf(data []byte) ResolvConf {
	var rc ResolvConf
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil {
				rc.Nameservers = append(rc.Nameservers, a)
			}
		case "search", "domain":
			rc.Search = f[1:]
		case "options":
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	return rc
}

// Upstreams returns the host's real resolvers: loopback stubs such as
// systemd-resolved's 127.0.0.53 cannot be reached from a container, so they
// are dropped; if nothing is left the caller falls back to public resolvers.
func (rc ResolvConf) Upstreams() []netip.Addr {
	var out []netip.Addr
	for _, a := range rc.Nameservers {
		if !a.IsLoopback() {
			out = append(out, a)
		}
	}
	return out
}

// Render writes resolv.conf content.
func (rc ResolvConf) Render() []byte {
	var b strings.Builder
	for _, a := range rc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if len(rc.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.Search, " "))
	}
	if len(rc.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.Options, " "))
	}
	return []byte(b.String())
}
