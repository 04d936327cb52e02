package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func runDNSBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dnsbench", stderr)
	n := fs.Int("n", 10000, "queries, sent one after another")
	server := fs.String("server", "", "ip:port of the resolver (default: first nameserver of /etc/resolv.conf)")
	name := fs.String("name", "redis", "name to ask an A record for")
	timeout := fs.Duration("t", time.Second, "timeout of each query")
	newSock := fs.Bool("newsock", false, "use a new UDP socket per query, as libc resolvers do")
	if _, err := parseArgs(fs, args); err != nil {
		return 2
	}
	if *n < 1 {
		fmt.Fprintln(stderr, "usage: netkit", usages["dnsbench"])
		return 2
	}
	addr := *server
	if addr == "" {
		var err error
		if addr, err = resolvConfServer("/etc/resolv.conf"); err != nil {
			fmt.Fprintln(stderr, "dnsbench:", err)
			return 1
		}
	}
	addr = withPort(addr, "53")
	r, err := dnsBench(addr, *name, *n, *timeout, *newSock)
	if err != nil {
		fmt.Fprintln(stderr, "dnsbench:", err)
		return 1
	}
	if r.firstErr != nil {
		fmt.Fprintf(stderr, "dnsbench: first failure: %v\n", r.firstErr)
	}
	fmt.Fprintf(stdout, "n=%d failures=%d p50_us=%.1f p99_us=%.1f\n", len(r.lat), r.failures,
		micros(percentile(r.lat, 50)), micros(percentile(r.lat, 99)))
	return 0
}

// withPort adds the default port to a bare IPv4 or IPv6 address.
func withPort(addr, port string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), port)
}

func resolvConfServer(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no nameserver in %s", path)
}

type dnsResult struct {
	lat      []time.Duration // of every query, failed ones included
	failures int
	firstErr error
}

// dnsBench sends n A queries one at a time. A query fails on a timeout,
// an error, an rcode other than NOERROR or an answer without an A record.
// Latencies of failed queries count too, so that timeouts show in p99.
func dnsBench(addr, name string, n int, timeout time.Duration, newSock bool) (dnsResult, error) {
	c := &dns.Client{Net: "udp", Timeout: timeout}
	var conn *dns.Conn
	if !newSock {
		var err error
		if conn, err = c.Dial(addr); err != nil {
			return dnsResult{}, err
		}
		defer conn.Close()
	}
	r := dnsResult{lat: make([]time.Duration, 0, n)}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	for i := 0; i < n; i++ {
		m.Id = dns.Id()
		t := time.Now()
		var resp *dns.Msg
		var err error
		if newSock {
			resp, _, err = c.Exchange(m, addr)
		} else {
			resp, _, err = c.ExchangeWithConn(m, conn)
		}
		r.lat = append(r.lat, time.Since(t))
		if err == nil {
			err = checkAnswer(resp)
		}
		if err != nil {
			r.failures++
			if r.firstErr == nil {
				r.firstErr = fmt.Errorf("query %d: %w", i+1, err)
			}
		}
	}
	return r, nil
}

func checkAnswer(m *dns.Msg) error {
	if m.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	for _, rr := range m.Answer {
		if _, ok := rr.(*dns.A); ok {
			return nil
		}
	}
	return errors.New("no A record in the answer")
}
