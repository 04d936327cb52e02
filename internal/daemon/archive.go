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
	"slices"
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
	// The files berth bind-mounts over the image's are what the container sees.
	dd := d.dataDir(c.rec.ID)
	r.binds = map[string]string{"etc/hosts": filepath.Join(dd, "hosts"),
		"etc/resolv.conf": filepath.Join(dd, "resolv.conf"), "etc/hostname": filepath.Join(dd, "hostname")}
	switch c.rec.State.Status {
	case container.Running:
		// The open root keeps the mount alive if the container exits meanwhile.
		c.mu.Unlock()
		locked = false
	case container.Exited, container.Restarting:
		defer func() {
			r.close()
			d.images.Unmount(c.rec.ID)
		}()
	}
	return fn(r)
}

// rootFS is a container's root directory, open for scoped resolution.
type rootFS struct {
	dir   string
	fd    int
	binds map[string]string // root-relative path -> host file mounted there
}

func openRoot(dir string) (*rootFS, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	// The kernel's name for the root, which resolve compares against.
	canon, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	return &rootFS{dir: canon, fd: fd}, nil
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
	if host, ok := r.binds[resolved]; ok {
		unix.Stat(host, &st)
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

// tarTree writes the tree at srcDir/srcBase (root-relative) to tw, its
// top entry named rebase and the rest below it.
func (r *rootFS) tarTree(tw *tar.Writer, srcDir, srcBase, rebase string) error {
	if rebase == "/" {
		rebase = "."
	}
	return r.tarEntry(tw, path.Join(srcDir, srcBase), rebase)
}

func (r *rootFS) tarEntry(tw *tar.Writer, rel, name string) error {
	if host, ok := r.binds[rel]; ok {
		return tarHostFile(tw, host, name)
	}
	fd, err := r.openIn(rel, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // gone since it was listed
		}
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	hdr := &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return r.tarDir(tw, rel, hdr)
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		f, err := r.openIn(rel, unix.O_RDONLY|unix.O_NOFOLLOW)
		if err != nil {
			return err
		}
		file := os.NewFile(uintptr(f), rel)
		defer file.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.CopyN(tw, file, st.Size)
		return err
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, string(buf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets do not travel in tar
	}
	return tw.WriteHeader(hdr)
}

// tarHostFile writes the host file at path (one of berth's bind mounts) as name.
func tarHostFile(tw *tar.Writer, hostPath, name string) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return nil // not made yet: nothing is mounted there
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, fi.Size())
	return err
}

func (r *rootFS) tarDir(tw *tar.Writer, rel string, hdr *tar.Header) error {
	hdr.Typeflag = tar.TypeDir
	name := hdr.Name
	hdr.Name = strings.TrimSuffix(name, "/") + "/"
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	fd, err := r.openIn(rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(fd), rel)
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		// "./x" rather than "x" under ".": docker cp matches entries by that prefix.
		if err := r.tarEntry(tw, path.Join(rel, n), strings.TrimSuffix(name, "/")+"/"+n); err != nil {
			return err
		}
	}
	return nil
}

// untar extracts tr below the root-relative directory dest.
func (r *rootFS) untar(tr *tar.Reader, dest string, opts ArchivePutOptions) error {
	type dirTime struct {
		rel string
		mt  time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errdefs.Invalidf("read archive: %v", err)
		}
		name := path.Clean(strings.TrimLeft(hdr.Name, "/"))
		if name == "." || hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if name == ".." || strings.HasPrefix(name, "../") {
			return errdefs.Invalidf("archive entry %q is outside the destination", hdr.Name)
		}
		target := path.Join(dest, name)
		if err := r.extract(tr, hdr, dest, target, opts); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		}
	}
	// Directory times last: creating their entries changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		parent, base := path.Split(dirs[i].rel)
		if pfd, err := r.openIn(parent, unix.O_PATH|unix.O_DIRECTORY); err == nil {
			ts := unix.NsecToTimespec(dirs[i].mt.UnixNano())
			unix.UtimesNanoAt(pfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
			unix.Close(pfd)
		}
	}
	return nil
}

// extract creates one archive entry at the root-relative path target. All
// changes go through the parent's fd with a one-element name, so nothing
// the container swaps in meanwhile can redirect them.
func (r *rootFS) extract(tr *tar.Reader, hdr *tar.Header, dest, target string, opts ArchivePutOptions) error {
	parent, base := path.Split(target)
	pfd, err := r.mkdirAll(parent)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := clearPlace(pfd, base, "/"+target, hdr, opts); err != nil {
		return err
	}
	made, err := r.create(tr, hdr, pfd, base, dest)
	if err != nil || !made {
		if err != nil {
			err = fmt.Errorf("extract %s: %w", "/"+target, err)
		}
		return err
	}
	uid, gid := 0, 0
	if opts.CopyUIDGID {
		uid, gid = hdr.Uid, hdr.Gid
	}
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", "/"+target, err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), unix.AT_SYMLINK_NOFOLLOW); err != nil && err != unix.EOPNOTSUPP {
			return fmt.Errorf("chmod %s: %w", "/"+target, err)
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
		unix.UtimesNanoAt(pfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

// clearPlace removes what is at base unless the entry may go over it
// (a directory onto a directory); with NoOverwriteDirNonDir a directory and
// a non-directory never replace each other.
func clearPlace(pfd int, base, shown string, hdr *tar.Header, opts ArchivePutOptions) error {
	var old unix.Stat_t
	if unix.Fstatat(pfd, base, &old, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return nil
	}
	isDir, oldDir := hdr.Typeflag == tar.TypeDir, old.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case oldDir && isDir:
		return nil
	case opts.NoOverwriteDirNonDir && oldDir:
		return errdefs.Invalidf("cannot overwrite directory %q with non-directory %q", shown, hdr.Name)
	case opts.NoOverwriteDirNonDir && isDir:
		return errdefs.Invalidf("cannot overwrite non-directory %q with directory %q", shown, hdr.Name)
	}
	flags := 0
	if oldDir {
		flags = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(pfd, base, flags); err != nil {
		return fmt.Errorf("replace %s: %w", shown, err)
	}
	return nil
}

// create makes the entry's file, directory, link or node; made is false
// for entries that need no owner, mode or times (hard links, unknown kinds).
func (r *rootFS) create(tr *tar.Reader, hdr *tar.Header, pfd int, base, dest string) (made bool, err error) {
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return false, err
		}
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return false, err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err == nil, err
	case tar.TypeSymlink:
		return true, unix.Symlinkat(hdr.Linkname, pfd, base)
	case tar.TypeLink:
		// The source is named from the archive's root, i.e. from dest.
		sdir, sbase := path.Split(path.Join(dest, path.Clean("/" + hdr.Linkname)[1:]))
		sfd, err := r.openIn(sdir, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return false, err
		}
		defer unix.Close(sfd)
		return false, unix.Linkat(sfd, sbase, pfd, base, 0)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		return true, unix.Mknodat(pfd, base, kind|uint32(hdr.Mode&0o7777), int(dev))
	default:
		return false, nil
	}
	return true, nil
}

// mkdirAll opens the root-relative directory dir, creating what is missing
// (root-owned, 0755, as Docker does).
func (r *rootFS) mkdirAll(dir string) (int, error) {
	fd, err := r.openIn(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(strings.TrimSuffix(dir, "/"))
	if base == "" {
		return -1, err
	}
	pfd, err := r.mkdirAll(parent)
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(pfd, base, 0o755)
	unix.Close(pfd)
	if err != nil && err != unix.EEXIST {
		return -1, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return r.openIn(dir, unix.O_PATH|unix.O_DIRECTORY)
}

func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}
