package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
)

func runEcho(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("echo", stderr)
	addr := fs.String("l", ":6379", "listen address")
	udp := fs.Bool("udp", false, "also serve UDP on the same address")
	banner := fs.Bool("banner", false, "first write \"from <client ip:port>\" to each client")
	if _, err := parseArgs(fs, args); err != nil {
		return 2
	}
	log := &syncWriter{w: stdout}
	errc := make(chan error, 2)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "echo:", err)
		return 1
	}
	go func() { errc <- serveEcho(ln, *banner, log) }()
	if *udp {
		pc, err := net.ListenPacket("udp", *addr)
		if err != nil {
			fmt.Fprintln(stderr, "echo:", err)
			return 1
		}
		go func() { errc <- serveEchoUDP(pc, *banner, log) }()
	}
	fmt.Fprintf(log, "listening on %s\n", ln.Addr())
	fmt.Fprintln(stderr, "echo:", <-errc)
	return 1
}

// syncWriter serialises log lines written by concurrent connections.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func serveEcho(ln net.Listener, banner bool, log io.Writer) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "conn from %s\n", c.RemoteAddr())
		go handleEcho(c, banner)
	}
}

func handleEcho(c net.Conn, banner bool) {
	defer c.Close()
	if banner {
		if _, err := fmt.Fprintf(c, "from %s\n", c.RemoteAddr()); err != nil {
			return
		}
	}
	var e pingEcho
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if out := e.feed(buf[:n]); len(out) > 0 {
				if _, werr := c.Write(out); werr != nil {
					return
				}
			}
		}
		if err != nil {
			if rest := e.flush(); len(rest) > 0 {
				c.Write(rest)
			}
			return
		}
	}
}

// pingEcho echoes a byte stream, except that a line that is exactly
// "PING" (LF or CRLF ended) is answered with "+PONG\r\n" like redis.
// Only bytes that could still turn into such a line are held back, so
// everything else is echoed as soon as it arrives.
type pingEcho struct {
	held        []byte // start of the current line, still a prefix of "PING\r"
	passthrough bool   // the current line can no longer be a PING
	out         []byte
}

const pingLine = "PING\r"

func (e *pingEcho) feed(p []byte) []byte {
	e.out = e.out[:0]
	for _, b := range p {
		if e.passthrough {
			e.out = append(e.out, b)
			if b == '\n' {
				e.passthrough = false
			}
			continue
		}
		e.held = append(e.held, b)
		switch {
		case b == '\n':
			if s := string(e.held); s == "PING\n" || s == "PING\r\n" {
				e.out = append(e.out, "+PONG\r\n"...)
			} else {
				e.out = append(e.out, e.held...)
			}
			e.held = e.held[:0]
		case !bytes.HasPrefix([]byte(pingLine), e.held):
			e.out = append(e.out, e.held...)
			e.held = e.held[:0]
			e.passthrough = true
		}
	}
	return e.out
}

// flush returns what is held back when the client stops sending.
func (e *pingEcho) flush() []byte {
	out := e.held
	e.held = nil
	return out
}

// echoDatagram is the UDP reply to one datagram.
func echoDatagram(p []byte, from net.Addr, banner bool) []byte {
	var out []byte
	if banner {
		out = fmt.Appendf(out, "from %s\n", from)
	}
	if string(bytes.TrimRight(p, "\r\n")) == "PING" {
		return append(out, "+PONG\r\n"...)
	}
	return append(out, p...)
}

func serveEchoUDP(pc net.PacketConn, banner bool, log io.Writer) error {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "udp from %s\n", from)
		pc.WriteTo(echoDatagram(buf[:n], from, banner), from)
	}
}
