// Package logfile owns the on-disk container log: one JSON object per
// output chunk, in Docker's json-file shape, written by the shim and read
// (and followed) by the daemon for logs and attach.
package logfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Entry is one chunk of output.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Writer appends entries to a log file; safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	f  *os.File
}

// Create opens path for appending.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &Writer{f: f}, nil
}

// Write records p as output of stream. Each line becomes one entry, so
// `logs` can show timestamps per line, while a partial line (a shell prompt)
// is written at once rather than held back.
func (w *Writer) Write(stream string, p []byte) error {
	now := time.Now().UTC()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		p = p[len(chunk):]
		if err := enc.Encode(Entry{Log: string(chunk), Stream: stream, Time: now}); err != nil {
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.f.Write(buf.Bytes())
	return err
}

// Close closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// StreamWriter adapts one stream of a Writer to io.Writer.
func (w *Writer) StreamWriter(stream string) io.Writer { return streamWriter{w, stream} }

type streamWriter struct {
	w      *Writer
	stream string
}

func (s streamWriter) Write(p []byte) (int, error) {
	if err := s.w.Write(s.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Size returns the current length of the log at path (0 when missing).
func Size(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Read calls fn for each complete entry of path from byte offset on, and
// returns the offset after the last complete entry.
func Read(path string, offset int64, fn func(Entry) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return offset, nil
		}
		return offset, err
	}
	defer f.Close()
	return readFrom(f, offset, fn)
}

func readFrom(f *os.File, offset int64, fn func(Entry) error) (int64, error) {
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			// A partial line is an entry still being written; it is read next time.
			return offset, nil
		}
		var e Entry
		if jerr := json.Unmarshal(line, &e); jerr == nil {
			if ferr := fn(e); ferr != nil {
				return offset + int64(len(line)), ferr
			}
		}
		offset += int64(len(line))
	}
}

// Follow calls fn for every entry from offset on as it is written, until
// done is closed (then it drains what is left) or ctx ends. It waits on
// inotify, so a new line reaches fn within microseconds.
func Follow(ctx context.Context, path string, offset int64, done <-chan struct{}, fn func(Entry) error) error {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	ino := os.NewFile(uintptr(fd), "inotify")
	defer ino.Close()
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE); err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	events := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := ino.Read(buf); err != nil {
				close(events)
				return
			}
			select {
			case events <- struct{}{}:
			default:
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { ino.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		if offset, err = readFrom(f, offset, fn); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			_, err = readFrom(f, offset, fn)
			return err
		case _, ok := <-events:
			if !ok {
				return ctx.Err()
			}
		}
	}
}
