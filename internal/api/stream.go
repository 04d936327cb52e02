package api

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// frameWriter writes Docker's multiplexed stream frames: an 8-byte header
// (stream, 0, 0, 0, big-endian length) then the payload. With raw set (a
// TTY) bytes pass unframed.
type frameWriter struct {
	mu    sync.Mutex
	w     io.Writer
	raw   bool
	flush func()
}

func (f *frameWriter) write(stream byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.raw {
		var hdr [8]byte
		hdr[0] = stream
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
		if _, err := f.w.Write(hdr[:]); err != nil {
			return err
		}
	}
	_, err := f.w.Write(p)
	if err == nil && f.flush != nil {
		f.flush()
	}
	return err
}

func streamByte(name string) byte {
	if name == "stderr" {
		return 2
	}
	return 1
}

type streamWriter struct {
	f      *frameWriter
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	if err := s.f.write(s.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// hijack takes over the connection for attach and exec, answering the
// client's upgrade request as Docker does.
func hijack(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("connection cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	ct := "application/vnd.docker.raw-stream"
	if r.Header.Get("Upgrade") != "" {
		fmt.Fprintf(rw, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
	} else {
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", ct)
	}
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, rw, nil
}

// closeWrite half-closes the connection so the client sees the end of output.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
