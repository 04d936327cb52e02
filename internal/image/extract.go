package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	paxXattr       = "SCHILY.xattr."
)

// extractor unpacks one layer diff into a fresh directory, converting OCI
// whiteouts into overlayfs form. It never writes through a symlink: every
// parent directory is checked with Lstat, so a layer cannot escape dir.
type extractor struct {
	dir     string
	checked map[string]bool // relative dirs known to be real directories
	dirs    []dirTimes      // applied last, as creating children bumps mtime
}

type dirTimes struct {
	path         string
	atime, mtime time.Time
}

func extractLayer(ctx context.Context, r io.Reader, dir string) error {
	ex := &extractor{dir: dir, checked: map[string]bool{".": true}}
	tr := tar.NewReader(ctxReader{ctx: ctx, r: r})
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return invalidf("read layer tar: %w", err)
		}
		if err := ex.entry(hdr, tr); err != nil {
			return err
		}
	}
	for i := len(ex.dirs) - 1; i >= 0; i-- {
		d := ex.dirs[i]
		if err := setTimes(d.path, d.atime, d.mtime); err != nil {
			return fmt.Errorf("set times of %s: %w", d.path, err)
		}
	}
	return nil
}

// cleanRel turns a tar entry name into a clean path relative to the layer
// root, rejecting anything that would climb out of it.
func cleanRel(name string) (string, error) {
	rel := path.Clean("/" + name)[1:]
	if rel == "" {
		rel = "."
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", invalidf("invalid layer entry %q: path escapes the layer", name)
		}
	}
	return rel, nil
}

func (ex *extractor) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanRel(hdr.Name)
	if err != nil {
		return err
	}
	parent, base := path.Split(rel)
	parent = path.Clean("/" + parent)[1:]
	if parent == "" {
		parent = "."
	}
	if rel != "." {
		if err := ex.ensureDir(parent, true); err != nil {
			return err
		}
	}
	switch {
	case base == whiteoutOpaque:
		return ex.opaque(parent)
	case strings.HasPrefix(base, whiteoutMeta):
		return nil // aufs bookkeeping (e.g. hardlink dirs); meaningless to overlay
	case strings.HasPrefix(base, whiteoutPrefix):
		return ex.whiteout(path.Join(parent, base[len(whiteoutPrefix):]), hdr)
	}
	return ex.create(rel, hdr, r)
}

// ensureDir verifies (and with create, makes) every component of rel as a
// real directory, never following symlinks.
func (ex *extractor) ensureDir(rel string, create bool) error {
	if ex.checked[rel] {
		return nil
	}
	if parent := path.Dir(rel); parent != rel {
		if err := ex.ensureDir(parent, create); err != nil {
			return err
		}
	}
	p := filepath.Join(ex.dir, rel)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", rel, err)
		}
	case err != nil:
		return fmt.Errorf("stat %s: %w", rel, err)
	case !fi.IsDir():
		return invalidf("invalid layer: %q is not a directory (symlinks are not followed)", rel)
	}
	ex.checked[rel] = true
	return nil
}

func (ex *extractor) opaque(parent string) error {
	p := filepath.Join(ex.dir, parent)
	if err := unix.Lsetxattr(p, opaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("mark %s opaque: %w", parent, err)
	}
	return nil
}

func (ex *extractor) whiteout(rel string, hdr *tar.Header) error {
	p := filepath.Join(ex.dir, rel)
	if err := ex.clear(rel, false); err != nil {
		return err
	}
	if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("create whiteout %s: %w", rel, err)
	}
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown whiteout %s: %w", rel, err)
	}
	return nil
}

// clear removes whatever an earlier entry of the same layer put at rel,
// keeping an existing directory when a directory is being written.
func (ex *extractor) clear(rel string, keepDir bool) error {
	p := filepath.Join(ex.dir, rel)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	if fi.IsDir() && keepDir {
		return nil
	}
	if fi.IsDir() {
		// Forget verified dirs: the path may be reused for a symlink.
		ex.checked = map[string]bool{".": true}
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("replace %s: %w", rel, err)
	}
	return nil
}

func (ex *extractor) create(rel string, hdr *tar.Header, r io.Reader) error {
	p := filepath.Join(ex.dir, rel)
	if rel != "." {
		if err := ex.clear(rel, hdr.Typeflag == tar.TypeDir); err != nil {
			return err
		}
	}
	var err error
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err = os.Mkdir(p, 0o755); errors.Is(err, fs.ErrExist) {
			err = nil
		}
		ex.checked[rel] = err == nil
	case tar.TypeReg:
		err = writeRegular(p, r)
	case tar.TypeSymlink:
		err = os.Symlink(hdr.Linkname, p)
	case tar.TypeLink:
		return ex.hardlink(rel, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = mknod(p, hdr)
	default:
		return nil // pax/global headers and exotic types carry no file
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", rel, err)
	}
	return ex.applyMeta(p, rel, hdr)
}

func writeRegular(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func mknod(p string, hdr *tar.Header) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	default:
		mode |= unix.S_IFIFO
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	return unix.Mknod(p, mode, int(dev))
}

func (ex *extractor) hardlink(rel string, hdr *tar.Header) error {
	target, err := cleanRel(hdr.Linkname)
	if err != nil || target == "." {
		return invalidf("invalid hardlink %q → %q", hdr.Name, hdr.Linkname)
	}
	if err := ex.ensureDir(path.Dir(target), false); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(ex.dir, target), filepath.Join(ex.dir, rel)); err != nil {
		return invalidf("extract hardlink %s → %s: %w", rel, target, err)
	}
	return nil
}

// applyMeta sets ownership before mode (chown clears set-id bits) and
// xattrs after chown (chown drops security.capability).
func (ex *extractor) applyMeta(p, rel string, hdr *tar.Header) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown %s: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", rel, err)
		}
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		// overlay's own xattrs would let a layer forge redirects or
		// opaqueness; only the whiteout conversion may set them.
		if !ok || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		err := unix.Lsetxattr(p, name, []byte(v), 0)
		if err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set xattr %s on %s: %w", name, rel, err)
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		ex.dirs = append(ex.dirs, dirTimes{path: p, atime: atime, mtime: hdr.ModTime})
		return nil
	}
	if err := setTimes(p, atime, hdr.ModTime); err != nil {
		return fmt.Errorf("set times of %s: %w", rel, err)
	}
	return nil
}

func setTimes(p string, atime, mtime time.Time) error {
	// The zero time.Time is outside the range UnixNano can represent.
	if atime.IsZero() {
		atime = time.Unix(0, 0)
	}
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
