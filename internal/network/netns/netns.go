//go:build linux

// Package netns creates, enters and removes network namespaces pinned by
// bind mounts, and gives netlink handles that operate inside them.
//
// Entering a namespace changes only the calling OS thread. Every switch in
// this package therefore happens on a fresh goroutine locked to its thread,
// and if switching back to the original namespace fails the thread is never
// unlocked, so the Go runtime destroys it instead of reusing a thread that
// sits in the wrong namespace.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// threadNSPath names the network namespace of the calling thread; the
// process-wide /proc/self/ns/net would name the main thread's instead.
const threadNSPath = "/proc/thread-self/ns/net"

// Create makes a new network namespace pinned by a bind mount at path. The
// parent directory is created (0755) if missing. The loopback interface is
// brought up inside the new namespace. The calling goroutine's thread never
// enters the new namespace.
func Create(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("netns %q: create parent directory: %w", path, err)
	}
	// O_EXCL: mounting over an existing pin would hide a live namespace.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("netns %q: create mount point: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("netns %q: close mount point: %w", path, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- createOnThread(path) }()
	if err := <-errc; err != nil {
		// The namespace may be mounted if only a later step failed.
		if derr := Delete(path); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	}
	return nil
}

// createOnThread must run on its own goroutine: it may leave that goroutine's
// thread locked on purpose so the runtime discards it.
func createOnThread(path string) error {
	runtime.LockOSThread()
	orig, err := unix.Open(threadNSPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %q: open current namespace: %w", path, err)
	}
	defer unix.Close(orig)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		// A failed unshare leaves the thread where it was.
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %q: unshare: %w", path, err)
	}
	workErr := pinAndInit(path)
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Stay locked: the thread dies with this goroutine.
		return errors.Join(workErr, fmt.Errorf("netns %q: return to original namespace: %w", path, err))
	}
	runtime.UnlockOSThread()
	return workErr
}

// pinAndInit runs inside the new namespace on a locked thread.
func pinAndInit(path string) error {
	src := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("netns %q: bind mount %s: %w", path, src, err)
	}
	return loopbackUp()
}

// loopbackUp brings lo up in the calling thread's namespace; many programs
// assume 127.0.0.1 works.
func loopbackUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netns: open netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns: find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netns: set lo up: %w", err)
	}
	return nil
}

// Delete unmounts the namespace pinned at path and removes the file. A
// missing path is not an error. The namespace itself lives on while any
// process or open descriptor still refers to it.
func Delete(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	switch {
	case err == nil, errors.Is(err, unix.EINVAL):
		// EINVAL: not a mount point, e.g. left over from a crash mid-Create.
	case errors.Is(err, unix.ENOENT):
		return nil
	default:
		return fmt.Errorf("netns %q: unmount: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns %q: remove: %w", path, err)
	}
	return nil
}

// Do runs fn on a locked OS thread inside the namespace at path and returns
// its error. Goroutines started by fn do not run in the namespace.
func Do(path string, fn func() error) error {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns %q: open: %w", path, err)
	}
	defer unix.Close(target)
	errc := make(chan error, 1)
	go func() { errc <- doOnThread(path, target, fn) }()
	return <-errc
}

// doOnThread must run on its own goroutine, see createOnThread.
func doOnThread(path string, target int, fn func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open(threadNSPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %q: open current namespace: %w", path, err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %q: enter: %w", path, err)
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Stay locked: the thread dies with this goroutine.
		return errors.Join(fnErr, fmt.Errorf("netns %q: return to original namespace: %w", path, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// NewHandle returns a route netlink handle bound to the namespace at path.
// The socket belongs to that namespace for its whole life, so using the
// handle needs no thread switching. The caller closes it.
//
// The socket is opened through Do rather than netlink.NewHandleAt because
// the latter unlocks its thread even when switching back fails.
func NewHandle(path string) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := Do(path, func() error {
		var err error
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		if h != nil {
			h.Close()
		}
		return nil, fmt.Errorf("netns %q: netlink handle: %w", path, err)
	}
	return h, nil
}
