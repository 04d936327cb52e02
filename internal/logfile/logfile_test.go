package logfile

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReadFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write("stdout", []byte("one\ntwo\npart")); err != nil {
		t.Fatal(err)
	}
	var got []string
	off, err := Read(path, 0, func(e Entry) error { got = append(got, e.Stream+":"+e.Log); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "stdout:one\n|stdout:two\n|stdout:part" {
		t.Fatalf("Read = %q", got)
	}

	done := make(chan struct{})
	lines := make(chan string, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- Follow(context.Background(), path, off, done, func(e Entry) error { lines <- e.Log; return nil })
	}()
	w.Write("stderr", []byte("later\n"))
	select {
	case l := <-lines:
		if l != "later\n" {
			t.Fatalf("Follow got %q, want %q", l, "later\n")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not deliver a new line")
	}
	w.Write("stdout", []byte("last\n"))
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if l := <-lines; l != "last\n" {
		t.Fatalf("Follow drained %q, want %q", l, "last\n")
	}
}
