package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/image/busyboxtar"
	"golang.org/x/sys/unix"
)

const busyboxPath = "/usr/bin/busybox"

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mknod, trusted xattrs, overlay mounts)")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestStore opens a store in a fresh temp dir. Cleanup detaches any
// mount left under it before the temp dir is removed.
func newTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	requireRoot(t)
	root := t.TempDir()
	t.Cleanup(func() { detachMountsUnder(t, root) })
	s, err := New(root, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, root
}

func detachMountsUnder(t *testing.T, root string) {
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(unescapeMountinfo(fields[4]), resolved+"/") {
			mounts = append(mounts, unescapeMountinfo(fields[4]))
		}
	}
	// Deepest first so nested mounts go before their parents.
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("cleanup: unmount %s: %v", m, err)
		}
	}
}

func busyboxRootfs(t *testing.T, extra map[string][]byte) []byte {
	t.Helper()
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Skipf("static busybox not available: %v", err)
	}
	var buf bytes.Buffer
	if err := busyboxtar.Write(&buf, busyboxPath, extra); err != nil {
		t.Fatalf("busyboxtar.Write: %v", err)
	}
	return buf.Bytes()
}

func importBusybox(t *testing.T, s *Store, ref string) Image {
	t.Helper()
	img, err := s.Import(context.Background(), bytes.NewReader(busyboxRootfs(t, nil)), ref, []string{`CMD ["sh"]`}, "")
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return img
}

// entry describes one member of a hand-built tar.
type entry struct {
	name string
	typ  byte
	body string
	link string
	mode int64
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: to, mode: 0o777}
}

func buildTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0)}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil && hdr.Size > 0 {
			t.Fatalf("tar body %s: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testConfig is an image config whose rootfs lists the given layer tars.
func testConfig(t *testing.T, layers ...[]byte) []byte {
	t.Helper()
	diffs := make([]string, len(layers))
	for i, l := range layers {
		diffs[i] = "sha256:" + sha(l)
	}
	return mustJSON(t, map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "2024-01-01T00:00:00Z",
		"config":       map[string]any{"Cmd": []string{"sh"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffs},
	})
}

// dockerImage is one image of a hand-built docker-save archive; stored
// holds the layer files as written (possibly gzipped), raw the tars.
type dockerImage struct {
	tags   []string
	raw    [][]byte
	stored [][]byte
	config []byte // defaults to testConfig(raw...)
}

func dockerArchive(t *testing.T, images ...dockerImage) []byte {
	t.Helper()
	var members []entry
	var manifest []map[string]any
	for i, img := range images {
		cfg := img.config
		if cfg == nil {
			cfg = testConfig(t, img.raw...)
		}
		cfgName := sha(cfg) + ".json"
		members = append(members, file(cfgName, string(cfg)))
		var layerPaths []string
		for j, l := range img.stored {
			p := filepath.Join(strings.Repeat("x", i+1)+string(rune('a'+j)), "layer.tar")
			members = append(members, file(p, string(l)))
			layerPaths = append(layerPaths, p)
		}
		manifest = append(manifest, map[string]any{"Config": cfgName, "RepoTags": img.tags, "Layers": layerPaths})
	}
	members = append(members, file("manifest.json", string(mustJSON(t, manifest))))
	return buildTar(t, members...)
}

// snapshot records every path in the store (except the staging dir) with
// its type, size and, for files, content hash.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "tmp" {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		if fi.Mode().IsRegular() && rel != ".lock" {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + sha(data)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

func readDirNames(t *testing.T, p string) []string {
	t.Helper()
	entries, err := os.ReadDir(p)
	if err != nil {
		t.Fatalf("read dir %s: %v", p, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
