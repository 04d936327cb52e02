//go:build linux

package netns

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
}

// threadNSInode returns the inode of the calling thread's network namespace.
func threadNSInode(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(threadNSPath, &st); err != nil {
		t.Fatalf("stat %s: %v", threadNSPath, err)
	}
	return st.Ino
}

// newNS creates a namespace in a temp dir and removes it when the test ends.
func newNS(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "ns")
	if err := Create(path); err != nil {
		t.Fatalf("Create(%q) = %v, want nil", path, err)
	}
	t.Cleanup(func() {
		if err := Delete(path); err != nil {
			t.Errorf("Delete(%q) = %v, want nil", path, err)
		}
	})
	return path
}

func TestCreateDoDelete(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNSInode(t)

	path := newNS(t)
	if got := threadNSInode(t); got != before {
		t.Fatalf("thread namespace after Create = %d, want %d", got, before)
	}

	var inside uint64
	err := Do(path, func() error {
		var st unix.Stat_t
		if err := unix.Stat(threadNSPath, &st); err != nil {
			return err
		}
		inside = st.Ino
		return nil
	})
	if err != nil {
		t.Fatalf("Do(%q) = %v, want nil", path, err)
	}
	if inside == before {
		t.Errorf("Do(%q) saw namespace %d, want a different one than the host's", path, inside)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %q: %v", path, err)
	}
	if st.Ino != inside {
		t.Errorf("pinned namespace inode = %d, want %d", st.Ino, inside)
	}
	if got := threadNSInode(t); got != before {
		t.Fatalf("thread namespace after Do = %d, want %d", got, before)
	}

	if err := Delete(path); err != nil {
		t.Fatalf("Delete(%q) = %v, want nil", path, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat after Delete = %v, want %v", err, os.ErrNotExist)
	}
	if err := Delete(path); err != nil {
		t.Errorf("second Delete(%q) = %v, want nil", path, err)
	}
}

func TestDoReturnsFnError(t *testing.T) {
	requireRoot(t)
	path := newNS(t)
	want := errors.New("boom")
	if err := Do(path, func() error { return want }); !errors.Is(err, want) {
		t.Errorf("Do(%q) = %v, want %v", path, err, want)
	}
}

func TestCreateExisting(t *testing.T) {
	requireRoot(t)
	path := newNS(t)
	if err := Create(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create(%q) twice = %v, want %v", path, err, os.ErrExist)
	}
	// The first namespace must still be pinned.
	if err := Do(path, func() error { return nil }); err != nil {
		t.Errorf("Do(%q) after failed Create = %v, want nil", path, err)
	}
}

func TestDeleteUnmountedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale")
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := Delete(path); err != nil {
		t.Errorf("Delete(%q) = %v, want nil", path, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat after Delete = %v, want %v", err, os.ErrNotExist)
	}
}

func TestDoMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing")
	called := false
	err := Do(path, func() error { called = true; return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Do(%q) = %v, want %v", path, err, os.ErrNotExist)
	}
	if called {
		t.Errorf("Do(%q) ran fn, want not run", path)
	}
}

func TestNewHandleAndLists(t *testing.T) {
	requireRoot(t)
	path := newNS(t)
	h, err := NewHandle(path)
	if err != nil {
		t.Fatalf("NewHandle(%q) = %v, want nil", path, err)
	}
	defer h.Close()

	links, err := LinkList(h)
	if err != nil {
		t.Fatalf("LinkList() = %v, want nil", err)
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" {
		t.Fatalf("LinkList() = %v, want only lo", linkNames(links))
	}
	if links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo flags = %v, want up", links[0].Attrs().Flags)
	}

	tests := []struct {
		name   string
		family int
		want   string
	}{
		{"v4", netlink.FAMILY_V4, "127.0.0.1/8"},
		{"v6", netlink.FAMILY_V6, "::1/128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs, err := AddrList(h, links[0], tt.family)
			if err != nil {
				t.Fatalf("AddrList(lo, %d) = %v, want nil", tt.family, err)
			}
			if len(addrs) != 1 || addrs[0].IPNet.String() != tt.want {
				t.Errorf("AddrList(lo, %d) = %v, want [%s]", tt.family, addrs, tt.want)
			}
		})
	}

	// A fresh namespace has only local-table routes, none in main.
	routes, err := RouteList(h, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("RouteList() = %v, want nil", err)
	}
	if len(routes) != 0 {
		t.Errorf("RouteList() = %v, want none", routes)
	}
}

func TestNewHandleMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing")
	if h, err := NewHandle(path); err == nil {
		h.Close()
		t.Errorf("NewHandle(%q) = nil error, want error", path)
	}
}

func linkNames(links []netlink.Link) []string {
	names := make([]string, 0, len(links))
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return names
}

func BenchmarkNewHandle(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	path := filepath.Join(b.TempDir(), "ns")
	if err := Create(path); err != nil {
		b.Fatal(err)
	}
	defer Delete(path)
	for b.Loop() {
		h, err := NewHandle(path)
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}
