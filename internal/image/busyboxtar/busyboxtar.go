// Package busyboxtar builds a minimal rootfs tarball around a static
// busybox binary. With no registry available, it is how tests and
// `make demo` create a busybox:latest image (via image.Store.Import).
package busyboxtar

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"
)

// mtime is fixed so the same inputs always give the same layer digest.
func mtime() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group  = "root:x:0:\nnobody:x:65534:\n"
)

type dirSpec struct {
	name string
	mode int64
}

// baseDirs are created in every rootfs, with their modes.
func baseDirs() []dirSpec {
	return []dirSpec{
		{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"proc", 0o555},
		{"root", 0o700}, {"sbin", 0o755}, {"sys", 0o555}, {"tmp", 0o1777},
		{"usr", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755}, {"var", 0o755},
	}
}

// Write writes an uncompressed rootfs tar: /bin/busybox plus a symlink in
// /bin for every applet it reports (`busybox --list`, including /bin/sh),
// the standard top-level directories, /etc/passwd and /etc/group (root and
// nobody), and extra files (absolute path → content; mode 0755 under
// /usr/local/bin, 0644 elsewhere) so tests can add static tools.
func Write(w io.Writer, busyboxPath string, extra map[string][]byte) error {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	applets, err := listApplets(busyboxPath)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, d := range baseDirs() {
		if err := writeDir(tw, dirs, d.name, d.mode); err != nil {
			return err
		}
	}
	if err := writeFile(tw, dirs, "bin/busybox", bin, 0o755); err != nil {
		return err
	}
	for _, a := range applets {
		hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime()}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write applet %s: %w", a, err)
		}
	}
	if err := writeFile(tw, dirs, "etc/passwd", []byte(passwd), 0o644); err != nil {
		return err
	}
	if err := writeFile(tw, dirs, "etc/group", []byte(group), 0o644); err != nil {
		return err
	}
	if err := writeExtra(tw, dirs, extra); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish rootfs tar: %w", err)
	}
	return nil
}

// listApplets returns the applet names to link in /bin; "sh" is always
// included because the daemon relies on /bin/sh.
func listApplets(busyboxPath string) ([]string, error) {
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	applets := []string{"sh"}
	for _, a := range strings.Fields(string(bytes.TrimSpace(out))) {
		if a != "busybox" && !strings.ContainsAny(a, "/.") {
			applets = append(applets, a)
		}
	}
	slices.Sort(applets)
	return slices.Compact(applets), nil
}

func writeExtra(tw *tar.Writer, dirs map[string]bool, extra map[string][]byte) error {
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rel := strings.TrimPrefix(path.Clean("/"+name), "/")
		if rel == "" {
			return fmt.Errorf("invalid extra file path %q", name)
		}
		mode := int64(0o644)
		if strings.HasPrefix(rel, "usr/local/bin/") {
			mode = 0o755
		}
		if err := writeFile(tw, dirs, rel, extra[name], mode); err != nil {
			return err
		}
	}
	return nil
}

func writeDir(tw *tar.Writer, dirs map[string]bool, name string, mode int64) error {
	if dirs[name] || name == "." || name == "" {
		return nil
	}
	if err := writeDir(tw, dirs, path.Dir(name), 0o755); err != nil {
		return err
	}
	dirs[name] = true
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write dir %s: %w", name, err)
	}
	return nil
}

func writeFile(tw *tar.Writer, dirs map[string]bool, name string, data []byte, mode int64) error {
	if err := writeDir(tw, dirs, path.Dir(name), 0o755); err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
