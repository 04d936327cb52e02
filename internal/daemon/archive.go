package daemon

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// This file serves `docker cp`: stat, tar out of and untar into a
// container's root filesystem (the overlay's merged directory, which the
// running container sees too). Every path is resolved with openat2's
// RESOLVE_IN_ROOT, so symlinks inside the container resolve as they would
// in the container and nothing escapes its root; Docker gets the same from
// chroot in a helper process.

// ArchivePutOptions are the query of PUT /containers/{id}/archive.
type ArchivePutOptions struct {
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
}

// ArchiveStat describes a path in the container, as HEAD /archive reports it.
func (d *Daemon) ArchiveStat(ref, p string) (mobycontainer.PathStat, error) {
	var st mobycontainer.PathStat
	err := d.withRoot(ref, func(r *rootFS) error {
		var err error
		_, st, err = r.statPath(ref, p)
		return err
	})
	return st, err
}

// ArchiveGet writes a tar of path p in the container. begin is called with
// the path's stat before the first byte, so the caller can answer with it.
func (d *Daemon) ArchiveGet(ref, p string, begin func(mobycontainer.PathStat) io.Writer) error {
	return d.withRoot(ref, func(r *rootFS) error {
		resolved, st, err := r.statPath(ref, p)
		if err != nil {
			return err
		}
		// Entries are named after the requested path, not after what a
		// symlink in it resolved to (Docker's rebase).
		resolved = path.Clean(resolved)
		srcDir, srcBase := resolved, "."
		if !st.Mode.IsDir() {
			srcDir, srcBase = path.Split(resolved)
		}
		rebase := path.Base(absContainerPath(p))
		tw := tar.NewWriter(begin(st))
		if err := r.tarTree(tw, srcDir, srcBase, rebase); err != nil {
			return err
		}
		return tw.Close()
	})
}

// ArchivePut extracts a tar (optionally gzipped) into the directory p of the container.
func (d *Daemon) ArchivePut(ref, p string, body io.Reader, opts ArchivePutOptions) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	if rec, _, _, _ := c.snapshot(); rec.HostConfig.ReadonlyRootfs {
		return errdefs.Forbiddenf("container rootfs is marked read-only")
	}
	return d.withRoot(ref, func(r *rootFS) error {
		dest, err := r.resolve(absContainerPath(p))
		if errors.Is(err, unix.ENOENT) {
			return errdefs.NotFoundf("Could not find the file %s in container %s", p, ref)
		}
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(r.fd, dest, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return errdefs.Invalidf("extraction point is not a directory")
		}
		in, err := decompress(body)
		if err != nil {
			return errdefs.Invalidf("read archive: %v", err)
		}
		return r.untar(tar.NewReader(in), dest, opts)
	})
}

// withRoot runs fn with the container's root filesystem open. A stopped
// container's rootfs is mounted for the call and the container is locked
// meanwhile, so it cannot start underneath.
func (d *Daemon) withRoot(ref string, fn func(*rootFS) error) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	locked := true
	defer func() {
		if locked {
			c.mu.Unlock()
		}
	}()
	switch c.rec.State.Status {
	case container.Removing, container.Dead:
		return errdefs.Conflictf("container %s is marked for removal", c.rec.Name)
	}
	dir, err := d.images.Mount(d.ctx, c.rec.ImageID, c.rec.ID)
	if err != nil {
		return fmt.Errorf("mount rootfs of %s: %w", c.rec.Name, err)
	}
	r, err := openRoot(dir)
	if err != nil {
		return err
	}
	defer r.close()
	switch c.rec.State.Status {
	case container.Running:
		// The open root keeps the mount alive if the container exits meanwhile.
		c.mu.Unlock()
		locked = false
	case container.Exited:
		defer func() {
			r.close()
			d.images.Unmount(c.rec.ID)
		}()
	}
	return fn(r)
}

// rootFS is a container's root directory, open for scoped resolution.
type rootFS struct {
	dir string
	fd  int
}

func openRoot(dir string) (*rootFS, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	return &rootFS{dir: dir, fd: fd}, nil
}

func (r *rootFS) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// openIn opens the container path p (relative to the root) with every
// symlink resolved inside the root.
func (r *rootFS) openIn(p string, flags uint64) (int, error) {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		p = "."
	}
	for {
		fd, err := unix.Openat2(r.fd, p, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: inRoot})
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
}

// resolve returns the root-relative path that container path p names,
// symlinks followed inside the root.
func (r *rootFS) resolve(p string) (string, error) {
	fd, err := r.openIn(p, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	host, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(r.dir, host)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("path %s resolves outside the container", p)
	}
	return rel, nil
}

// absContainerPath makes p absolute and clean, keeping a trailing "/" or
// "/." that tells docker cp to copy a directory's contents.
func absContainerPath(p string) string {
	abs := path.Join("/", p)
	switch {
	case strings.HasSuffix(p, "/.") || p == ".":
		if abs != "/" {
			abs += "/."
		}
	case strings.HasSuffix(p, "/") && abs != "/":
		abs += "/"
	}
	return abs
}

// statPath resolves p (its last element is not followed) and stats it the
// way Docker does. It returns the root-relative resolved path.
func (r *rootFS) statPath(ref, p string) (string, mobycontainer.PathStat, error) {
	abs := absContainerPath(p)
	dir, base := path.Split(abs)
	notFound := errdefs.NotFoundf("Could not find the file %s in container %s", p, ref)
	rdir, err := r.resolve(dir)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return "", mobycontainer.PathStat{}, notFound
		}
		return "", mobycontainer.PathStat{}, err
	}
	resolved := path.Join(rdir, base)
	var st unix.Stat_t
	fd, err := r.openIn(rdir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return "", mobycontainer.PathStat{}, err
	}
	defer unix.Close(fd)
	name := base
	if name == "" {
		name = "."
	}
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", mobycontainer.PathStat{}, notFound
	}
	ps := mobycontainer.PathStat{
		Name: path.Base(abs), Size: st.Size, Mode: fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Unix()),
	}
	if ps.Mode&fs.ModeSymlink != 0 {
		if target, err := r.resolve(abs); err == nil {
			ps.LinkTarget = path.Join("/", target)
		}
	}
	return resolved, ps, nil
}

// fileMode converts a stat mode to Go's FileMode, as os.Lstat would.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}
