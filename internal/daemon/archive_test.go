package daemon

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestAbsContainerPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"etc/hostname", "/etc/hostname"},
		{"/etc/", "/etc/"},
		{"/etc/.", "/etc/."},
		{"/etc/../tmp", "/tmp"},
		{".", "/"},
		{"/", "/"},
		{"../../x", "/x"},
	} {
		if got := absContainerPath(tc.in); got != tc.want {
			t.Errorf("absContainerPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// testRoot makes a small container root: /etc/passwd, /data/d/c.txt and an
// escaping symlink /data/out -> / (which must resolve to the root itself).
func testRoot(t *testing.T) *rootFS {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, "data", "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "data", "d", "c.txt"), []byte("gamma\n"), 0o600)
	os.Symlink("/", filepath.Join(dir, "data", "out"))
	os.Symlink("../../etc/passwd", filepath.Join(dir, "data", "pw"))
	r, err := openRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	return r
}

func TestResolveStaysInRoot(t *testing.T) {
	r := testRoot(t)
	for _, tc := range []struct{ in, want string }{
		{"/data/out/etc", "etc"},
		{"/data/out/../../../etc/passwd", "etc/passwd"},
		{"/data/pw", "etc/passwd"},
		{"/", "."},
	} {
		if got, err := r.resolve(tc.in); err != nil || got != tc.want {
			t.Errorf("resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, st, err := r.statPath("c1", "/data/pw"); err != nil || st.LinkTarget != "/etc/passwd" || st.Name != "pw" {
		t.Errorf("statPath(/data/pw) = %+v, %v; want a link to /etc/passwd", st, err)
	}
	if _, _, err := r.statPath("c1", "/no/such"); err == nil || !strings.Contains(err.Error(), "Could not find the file /no/such in container c1") {
		t.Errorf("statPath(/no/such) error = %v", err)
	}
}

func tarNames(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[hdr.Name] = string(b) + hdr.Linkname
	}
}

func TestTarTreeNames(t *testing.T) {
	r := testRoot(t)
	for _, tc := range []struct {
		dir, base, rebase string
		want              []string
	}{
		{"data", "d", "d", []string{"d/", "d/c.txt"}},
		{"data/d", ".", ".", []string{"./", "./c.txt"}},
		{"data/d", ".", "renamed", []string{"renamed/", "renamed/c.txt"}},
		{"data/", "d/c.txt", "c.txt", []string{"c.txt"}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := r.tarTree(tw, tc.dir, tc.base, tc.rebase); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		var got []string
		for n := range tarNames(t, buf.Bytes()) {
			got = append(got, n)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("tarTree(%q, %q, %q) names = %q, want %q", tc.dir, tc.base, tc.rebase, got, tc.want)
		}
	}
}

func TestUntarStaysInRoot(t *testing.T) {
	r := testRoot(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(hdr *tar.Header, body string) {
		hdr.Size = int64(len(body))
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		tw.WriteHeader(hdr)
		tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "new/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "new/f.txt", Typeflag: tar.TypeReg}, "hello\n")
	add(&tar.Header{Name: "new/deep/er/g.txt", Typeflag: tar.TypeReg}, "deep\n")
	add(&tar.Header{Name: "new/ln", Typeflag: tar.TypeSymlink, Linkname: "f.txt"}, "")
	tw.Close()
	// /data/out is a symlink to /: extracting "into" it lands in the root.
	dest, err := r.resolve("/data/out/data")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.untar(tar.NewReader(&buf), dest, ArchivePutOptions{NoOverwriteDirNonDir: true}); err != nil {
		t.Fatalf("untar: %v", err)
	}
	for p, want := range map[string]string{"data/new/f.txt": "hello\n", "data/new/deep/er/g.txt": "deep\n"} {
		if b, err := os.ReadFile(filepath.Join(r.dir, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if l, _ := os.Readlink(filepath.Join(r.dir, "data", "new", "ln")); l != "f.txt" {
		t.Errorf("symlink new/ln -> %q, want f.txt", l)
	}

	// An entry climbing out of the destination is refused.
	buf.Reset()
	tw = tar.NewWriter(&buf)
	add(&tar.Header{Name: "../../escape.txt", Typeflag: tar.TypeReg}, "x")
	tw.Close()
	if err := r.untar(tar.NewReader(&buf), dest, ArchivePutOptions{}); err == nil {
		t.Errorf("untar of ../../escape.txt succeeded")
	}
	// A directory does not replace a file when NoOverwriteDirNonDir is set.
	buf.Reset()
	tw = tar.NewWriter(&buf)
	add(&tar.Header{Name: "new/f.txt/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	tw.Close()
	if err := r.untar(tar.NewReader(&buf), dest, ArchivePutOptions{NoOverwriteDirNonDir: true}); err == nil || !strings.Contains(err.Error(), "cannot overwrite non-directory") {
		t.Errorf("untar of a directory over a file: %v", err)
	}
}
