package store

import (
	"errors"
	"path/filepath"
	"testing"
)

type rec struct {
	Name string
	N    int
}

func TestPutGetDeleteEach(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, name := range []string{"a", "b", "c"} {
		if err := s.Put(Containers, name, rec{Name: name, N: i}); err != nil {
			t.Fatal(err)
		}
	}
	var got rec
	if ok, err := s.Get(Containers, "b", &got); err != nil || !ok || got.N != 1 {
		t.Fatalf("Get(%q) = %v, %v, %v; want {b 1}, true, nil", "b", got, ok, err)
	}
	if err := s.Delete(Containers, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Get(Containers, "b", &got); ok {
		t.Fatalf("Get(%q) after Delete found a record", "b")
	}
	var keys []string
	if err := s.Each(Containers, func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "a" || keys[1] != "c" {
		t.Fatalf("Each keys = %v, want [a c]", keys)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open(%q) = %v, want ErrLocked", path, err)
	}
}
