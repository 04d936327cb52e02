package main

import (
	"fmt"
	"io"
	"net"
	"time"
)

func runRRServer(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rr-server", stderr)
	addr := fs.String("l", ":5002", "listen address")
	if _, err := parseArgs(fs, args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "rr-server:", err)
		return 1
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	fmt.Fprintln(stderr, "rr-server:", serveRR(ln))
	return 1
}

// serveRR answers every byte with one byte.
func serveRR(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			b := make([]byte, 1)
			for {
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}()
	}
}

func runRRClient(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rr-client", stderr)
	n := fs.Int("n", 10000, "round trips to time")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || *n < 1 {
		fmt.Fprintln(stderr, "usage: netkit", usages["rr-client"])
		return 2
	}
	lat, err := rrClient(pos[0], *n)
	if err != nil {
		fmt.Fprintln(stderr, "rr-client:", err)
		return 1
	}
	fmt.Fprintf(stdout, "n=%d p50_us=%.1f p99_us=%.1f\n", len(lat), micros(percentile(lat, 50)), micros(percentile(lat, 99)))
	return 0
}

// rrWarmup round trips are not timed: they fill caches, ARP and
// conntrack state, and wake the peer's scheduler.
const rrWarmup = 100

// rrClient times n 1-byte request/response round trips over one TCP
// connection (Nagle is off, as always in Go).
func rrClient(addr string, n int) ([]time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	lat := make([]time.Duration, 0, n)
	b := []byte{'x'}
	for i := 0; i < n+rrWarmup; i++ {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		t := time.Now()
		if _, err := c.Write(b); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return nil, err
		}
		if i >= rrWarmup {
			lat = append(lat, time.Since(t))
		}
	}
	return lat, nil
}
