package busyboxtar

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

func TestWrite(t *testing.T) {
	const bb = "/usr/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skipf("static busybox not available: %v", err)
	}
	extra := map[string][]byte{"/usr/local/bin/tool": []byte("ELF"), "/etc/motd": []byte("hi\n")}
	var a, b bytes.Buffer
	if err := Write(&a, bb, extra); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := Write(&b, bb, extra); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("output is not deterministic")
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(&a)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = hdr
	}
	tests := []struct {
		name string
		typ  byte
		mode int64
		link string
	}{
		{name: "bin/busybox", typ: tar.TypeReg, mode: 0o755},
		{name: "bin/sh", typ: tar.TypeSymlink, mode: 0o777, link: "busybox"},
		{name: "bin/ls", typ: tar.TypeSymlink, mode: 0o777, link: "busybox"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "root/", typ: tar.TypeDir, mode: 0o700},
		{name: "proc/", typ: tar.TypeDir, mode: 0o555},
		{name: "usr/sbin/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644},
		{name: "etc/group", typ: tar.TypeReg, mode: 0o644},
		{name: "usr/local/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/local/bin/tool", typ: tar.TypeReg, mode: 0o755},
		{name: "etc/motd", typ: tar.TypeReg, mode: 0o644},
	}
	for _, tt := range tests {
		h, ok := got[tt.name]
		if !ok {
			t.Errorf("%s missing", tt.name)
			continue
		}
		if h.Typeflag != tt.typ || h.Mode != tt.mode || h.Linkname != tt.link {
			t.Errorf("%s: type %c mode %o link %q; want %c %o %q", tt.name, h.Typeflag, h.Mode, h.Linkname, tt.typ, tt.mode, tt.link)
		}
	}
	if _, ok := got["bin/busybox"]; ok && got["bin/busybox"].Size == 0 {
		t.Error("busybox binary is empty")
	}
}

func TestWriteMissingBinary(t *testing.T) {
	if err := Write(io.Discard, "/nonexistent/busybox", nil); err == nil {
		t.Fatal("Write with missing busybox succeeded")
	}
}
