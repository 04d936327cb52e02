package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountRootfs(t *testing.T) {
	s, root := newTestStore(t)
	img := importBusybox(t, s, "busybox:latest")
	ctx := context.Background()
	merged, err := s.Mount(ctx, img.ID, "c1")
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	if again, err := s.Mount(ctx, img.ID, "c1"); err != nil || again != merged {
		t.Fatalf("second Mount = %q, %v; want %q", again, err, merged)
	}
	if n := countMounts(t, merged); n != 1 {
		t.Fatalf("merged mounted %d times, want 1", n)
	}
	if fi, err := os.Lstat(filepath.Join(merged, "bin/sh")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("/bin/sh in merged: %v, %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(merged, "tmp")); err != nil || fi.Mode()&fs.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Fatalf("/tmp in merged: %v, %v", fi, err)
	}
	out, err := exec.Command(filepath.Join(merged, "bin/busybox"), "echo", "alive").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "alive" {
		t.Fatalf("running busybox from merged: %q, %v", out, err)
	}

	// Writes land in the container's upper dir, never in the shared layer.
	if err := os.WriteFile(filepath.Join(merged, "etc/hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(merged, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	layerDir := filepath.Join(root, "layers", hexOf(img.Layers[0]))
	if _, err := os.Stat(filepath.Join(layerDir, "etc/hello")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("write leaked into layer dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(layerDir, "etc/passwd")); err != nil {
		t.Fatalf("delete leaked into layer dir: %v", err)
	}

	checkSecondContainerAndRemount(t, s, img.ID, merged)

	for _, c := range []string{"c1", "c2"} {
		if err := s.RemoveRootfs(c); err != nil {
			t.Fatalf("RemoveRootfs(%s): %v", c, err)
		}
		if _, err := os.Stat(filepath.Join(root, "containers", c)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("container dir %s remains: %v", c, err)
		}
	}
	if n := countMounts(t, merged); n != 0 {
		t.Fatal("mount remains after RemoveRootfs")
	}
	if err := s.RemoveRootfs("c1"); err != nil {
		t.Fatalf("RemoveRootfs of a removed container: %v", err)
	}
	if _, err := os.Stat(layerDir); err != nil {
		t.Fatalf("image layer removed with container: %v", err)
	}
}

// checkSecondContainerAndRemount expects c1 to have written /etc/hello
// and removed /etc/passwd in its upper dir.
func checkSecondContainerAndRemount(t *testing.T, s *Store, imageID, merged string) {
	t.Helper()
	ctx := context.Background()
	// A second container sees the pristine image.
	merged2, err := s.Mount(ctx, "busybox", "c2")
	if err != nil {
		t.Fatalf("Mount c2: %v", err)
	}
	if _, err := os.Stat(filepath.Join(merged2, "etc/passwd")); err != nil {
		t.Fatalf("c2 lost /etc/passwd: %v", err)
	}

	// Unmount keeps the upper dir; a remount shows the change again.
	if err := s.Unmount("c1"); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if n := countMounts(t, merged); n != 0 {
		t.Fatalf("still mounted after Unmount")
	}
	if err := s.Unmount("c1"); err != nil {
		t.Fatalf("Unmount twice: %v", err)
	}
	if _, err := s.Mount(ctx, imageID, "c1"); err != nil {
		t.Fatalf("remount: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(merged, "etc/hello")); err != nil || string(data) != "hi" {
		t.Fatalf("upper content lost across remount: %q, %v", data, err)
	}

}

func TestMountErrors(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	for _, id := range []string{"", "..", "a/b", "x y"} {
		if _, err := s.Mount(ctx, "busybox", id); !errors.Is(err, ErrInvalid) {
			t.Errorf("Mount with container ID %q: %v, want ErrInvalid", id, err)
		}
	}
	if _, err := s.Mount(ctx, "missing", "c1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Mount of missing image: %v, want ErrNotFound", err)
	}
}

func countMounts(t *testing.T, p string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == p {
			n++
		}
	}
	return n
}

// whiteoutLayers builds a base layer and a gzip-able upper layer that
// deletes one file and makes one directory opaque.
func whiteoutLayers(t *testing.T) (base, upper []byte) {
	base = buildTar(t,
		dir("a/"), file("a/keep", "keep"), file("a/gone", "gone"),
		dir("o/"), file("o/old1", "1"), dir("o/sub/"), file("o/sub/old2", "2"),
		file("top", "base"), symlink("link", "/top"))
	upper = buildTar(t,
		dir("a/"), file("a/.wh.gone", ""),
		dir("o/"), file("o/.wh..wh..opq", ""), file("o/new", "new"),
		file(".wh.link", ""), file("top", "upper"),
		file("n/.wh..wh..opq", ""), file("n/fresh", "f"))
	return base, upper
}

func TestWhiteouts(t *testing.T) {
	s, root := newTestStore(t)
	base, upper := whiteoutLayers(t)
	archive := dockerArchive(t, dockerImage{tags: []string{"layered:1"}, raw: [][]byte{base, upper}, stored: [][]byte{base, gzipBytes(t, upper)}})
	out, err := s.Load(context.Background(), bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(out) != 1 || out[0] != "Loaded image: layered:1" {
		t.Fatalf("Load output = %q", out)
	}
	img, err := s.Get("layered:1")
	if err != nil {
		t.Fatal(err)
	}
	chains := chainIDs(img.Layers)
	upperDir := filepath.Join(root, "layers", hexOf(chains[1]))
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upperDir, "a/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Fatalf("whiteout not converted to 0:0 char device: %+v, %v", st, err)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(upperDir, "o"), opaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Fatalf("opaque xattr missing: %q, %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(upperDir, "o/.wh..wh..opq")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("opaque marker file left in layer: %v", err)
	}

	merged, err := s.Mount(context.Background(), img.ID, "w1")
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	want := map[string]string{"a/keep": "keep", "o/new": "new", "top": "upper", "n/fresh": "f"}
	for p, body := range want {
		if data, err := os.ReadFile(filepath.Join(merged, p)); err != nil || string(data) != body {
			t.Errorf("%s = %q, %v; want %q", p, data, err, body)
		}
	}
	for _, p := range []string{"a/gone", "o/old1", "o/sub", "link"} {
		if _, err := os.Lstat(filepath.Join(merged, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s visible in merged, want deleted: %v", p, err)
		}
	}
	if err := s.RemoveRootfs("w1"); err != nil {
		t.Fatal(err)
	}
}

func TestExtractRejectsEscapes(t *testing.T) {
	requireRoot(t)
	outside := t.TempDir()
	tests := []struct {
		name  string
		layer []byte
	}{
		{"dotdot", buildTar(t, file("../escape", "x"))},
		{"nested dotdot", buildTar(t, dir("a/"), file("a/../../escape", "x"))},
		{"through symlink", buildTar(t, symlink("lnk", outside), file("lnk/escape", "x"))},
		{"through relative symlink", buildTar(t, symlink("up", "../../../.."+outside), file("up/escape", "x"))},
		{"hardlink outside", buildTar(t, entry{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := t.TempDir()
			err := extractLayer(context.Background(), bytes.NewReader(tt.layer), dst)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("extract = %v, want ErrInvalid", err)
			}
			if _, err := os.Lstat(filepath.Join(outside, "escape")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("file written outside the layer: %v", err)
			}
		})
	}
}

// TestMountLayerOrderAndLimit checks that the top-most layer wins and that
// exceeding the mount-option page limit is reported clearly.
func TestMountLayerOrderAndLimit(t *testing.T) {
	s, _ := newTestStore(t)
	stack := func(n int, tag string) {
		var raw [][]byte
		for i := range n {
			raw = append(raw, buildTar(t, file("f", fmt.Sprint(i)), file(fmt.Sprintf("only%d", i), "")))
		}
		if _, err := s.Load(context.Background(), bytes.NewReader(dockerArchive(t, dockerImage{tags: []string{tag}, raw: raw, stored: raw}))); err != nil {
			t.Fatalf("Load %d layers: %v", n, err)
		}
	}
	stack(25, "deep:25")
	merged, err := s.Mount(context.Background(), "deep:25", "deep")
	if err != nil {
		t.Fatalf("Mount 25 layers: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(merged, "f")); err != nil || string(data) != "24" {
		t.Fatalf("f = %q, %v; want the top layer's 24", data, err)
	}
	if _, err := os.Stat(filepath.Join(merged, "only0")); err != nil {
		t.Fatalf("bottom layer not visible: %v", err)
	}
	stack(80, "deep:80")
	if _, err := s.Mount(context.Background(), "deep:80", "deeper"); err == nil || !strings.Contains(err.Error(), "too many layers") {
		t.Fatalf("Mount 80 layers = %v; want a too-many-layers error", err)
	}
	for _, c := range []string{"deep", "deeper"} {
		if err := s.RemoveRootfs(c); err != nil {
			t.Fatal(err)
		}
	}
}
