package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

func runTputServer(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tput-server", stderr)
	addr := fs.String("l", ":5001", "listen address")
	if _, err := parseArgs(fs, args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "tput-server:", err)
		return 1
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	fmt.Fprintln(stderr, "tput-server:", serveTput(ln, &syncWriter{w: stdout}))
	return 1
}

// serveTput discards what each client sends and, when the client shuts
// down its sending side, answers with the byte count, so that the client
// measures until the data has really arrived rather than until it sat in
// a socket buffer.
func serveTput(ln net.Listener, log io.Writer) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 256<<10)
			n, _ := io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, buf)
			fmt.Fprintf(c, "%d\n", n)
			fmt.Fprintf(log, "conn from %s bytes=%d\n", c.RemoteAddr(), n)
		}()
	}
}

type tputResult struct {
	Bytes   int64
	Seconds float64
}

func (r tputResult) Gbps() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Seconds / 1e9
}

func (r tputResult) String() string {
	return fmt.Sprintf("bytes=%d seconds=%.3f gbit_per_s=%.3f", r.Bytes, r.Seconds, r.Gbps())
}

func runTputClient(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tput-client", stderr)
	d := fs.Duration("d", 3*time.Second, "how long to send")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: netkit", usages["tput-client"])
		return 2
	}
	r, err := tputClient(pos[0], *d)
	if err != nil {
		fmt.Fprintln(stderr, "tput-client:", err)
		return 1
	}
	fmt.Fprintln(stdout, r)
	return 0
}

func tputClient(addr string, d time.Duration) (tputResult, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return tputResult{}, err
	}
	defer c.Close()
	buf := make([]byte, 128<<10)
	start := time.Now()
	end := start.Add(d)
	c.SetWriteDeadline(end.Add(10 * time.Second))
	var sent int64
	for time.Now().Before(end) {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			return tputResult{}, fmt.Errorf("after %d bytes: %w", sent, err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return tputResult{}, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return tputResult{}, fmt.Errorf("no byte count from the server: %w", err)
	}
	elapsed := time.Since(start)
	got, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		return tputResult{}, fmt.Errorf("bad byte count %q from the server", line)
	}
	if got != sent {
		return tputResult{}, fmt.Errorf("server got %d bytes of %d", got, sent)
	}
	return tputResult{Bytes: got, Seconds: elapsed.Seconds()}, nil
}
