package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

func runDial(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dial", stderr)
	timeout := fs.Duration("t", 2*time.Second, "overall timeout")
	udp := fs.Bool("udp", false, "send one UDP datagram and wait for one reply")
	send := fs.String("send", "PING\n", `text to send (\n, \r, \t are unescaped; a newline is added if missing; "" sends nothing)`)
	lines := fs.Int("lines", 1, "stop after this many reply lines (TCP); 0: do not wait for a reply")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: netkit", usages["dial"])
		return 2
	}
	text := unescape(*send)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	network := "tcp"
	if *udp {
		network = "udp"
	}
	got, err := dial(network, pos[0], text, *timeout, *lines)
	if len(got) > 0 {
		stdout.Write(got)
		if got[len(got)-1] != '\n' {
			fmt.Fprintln(stdout)
		}
	}
	if err != nil {
		var op *net.OpError
		if !errors.As(err, &op) {
			err = fmt.Errorf("%s %s: %w", network, pos[0], err)
		}
		fmt.Fprintln(stderr, "netkit dial:", err)
		return 1
	}
	return 0
}

// dial connects, sends text and returns what came back within timeout.
// Over TCP it stops after `lines` complete lines or when the server closes
// the connection; it fails if nothing came back (unless lines is 0).
func dial(network, addr, text string, timeout time.Duration, lines int) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if text != "" {
		if _, err := io.WriteString(c, text); err != nil {
			return nil, err
		}
	}
	if lines == 0 {
		return nil, nil
	}
	buf := make([]byte, 64<<10)
	if network == "udp" {
		n, err := c.Read(buf)
		if err != nil {
			return nil, noReply(err)
		}
		return buf[:n], nil
	}
	var got []byte
	for bytes.Count(got, []byte{'\n'}) < lines {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if len(got) > 0 && (err == io.EOF || errors.Is(err, os.ErrDeadlineExceeded)) {
				return got, nil
			}
			if err == io.EOF {
				return got, errors.New("connection closed without a reply")
			}
			return got, noReply(err)
		}
	}
	return got, nil
}

func noReply(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errors.New("no reply before the timeout")
	}
	return err
}
