package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// runDNSServer is a tiny authoritative server for tests that need an
// upstream resolver: it answers A and AAAA queries for the names given
// with -a and NXDOMAIN for everything else.
//
//	netkit dns-server -l :53 -a ext.test=10.77.1.2 [-a name=ip ...]
func runDNSServer(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dns-server", stderr)
	addr := fs.String("l", ":53", "listen address (UDP and TCP)")
	var records multiFlag
	fs.Var(&records, "a", "name=ip record to serve (repeatable)")
	if _, err := parseArgs(fs, args); err != nil {
		return 2
	}
	zone := map[string][]netip.Addr{}
	for _, r := range records {
		name, ip, ok := strings.Cut(r, "=")
		a, err := netip.ParseAddr(ip)
		if !ok || err != nil {
			fmt.Fprintf(stderr, "dns-server: invalid record %q: want name=ip\n", r)
			return 2
		}
		fqdn := dns.Fqdn(strings.ToLower(name))
		zone[fqdn] = append(zone[fqdn], a)
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		w.WriteMsg(answerZone(zone, req))
	})
	errc := make(chan error, 2)
	for _, network := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: *addr, Net: network, Handler: handler}
		go func() { errc <- srv.ListenAndServe() }()
	}
	fmt.Fprintf(stdout, "dns-server on %s with %d names\n", *addr, len(zone))
	fmt.Fprintln(stderr, "dns-server:", <-errc)
	return 1
}

func answerZone(zone map[string][]netip.Addr, req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	addrs, ok := zone[strings.ToLower(q.Name)]
	if !ok {
		m.Rcode = dns.RcodeNameError
		return m
	}
	for _, a := range addrs {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
		switch {
		case a.Is4() && q.Qtype == dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
		case a.Is6() && q.Qtype == dns.TypeAAAA:
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
		}
	}
	return m
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (f *multiFlag) String() string     { return strings.Join(*f, ",") }
func (f *multiFlag) Set(v string) error { *f = append(*f, v); return nil }
