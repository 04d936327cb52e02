package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	src, _ := newTestStore(t)
	img := importBusybox(t, src, "busybox:latest")
	if err := src.Tag("busybox", "busybox:v1"); err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(img.ID, "example.com/team/bb:2"); err != nil {
		t.Fatal(err)
	}
	untagged := importBusybox(t, src, "")
	ctx := context.Background()

	tests := []struct {
		name     string
		refs     []string
		wantOut  []string
		wantTags map[string][]string // image ID → tags in the destination
	}{
		{name: "one tag", refs: []string{"busybox:latest"},
			wantOut:  []string{"Loaded image: busybox:latest"},
			wantTags: map[string][]string{img.ID: {"busybox:latest"}}},
		{name: "repository saves all its tags", refs: []string{"busybox"},
			wantOut:  []string{"Loaded image: busybox:latest", "Loaded image: busybox:v1"},
			wantTags: map[string][]string{img.ID: {"busybox:latest", "busybox:v1"}}},
		{name: "by id is untagged", refs: []string{ShortID(untagged.ID)},
			wantOut:  []string{"Loaded image ID: " + untagged.ID},
			wantTags: map[string][]string{untagged.ID: nil}},
		{name: "several images", refs: []string{"example.com/team/bb:2", untagged.ID, "busybox:v1"},
			wantOut:  []string{"Loaded image: example.com/team/bb:2", "Loaded image: busybox:v1", "Loaded image ID: " + untagged.ID},
			wantTags: map[string][]string{img.ID: {"busybox:v1", "example.com/team/bb:2"}, untagged.ID: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := src.Save(ctx, tt.refs, &buf); err != nil {
				t.Fatalf("Save: %v", err)
			}
			checkSaveLayout(t, buf.Bytes())
			dst, _ := newTestStore(t)
			out, err := dst.Load(ctx, bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			slices.Sort(out)
			slices.Sort(tt.wantOut)
			if !reflect.DeepEqual(out, tt.wantOut) {
				t.Fatalf("Load output = %q, want %q", out, tt.wantOut)
			}
			list, err := dst.List()
			if err != nil || len(list) != len(tt.wantTags) {
				t.Fatalf("List = %d images, %v; want %d", len(list), err, len(tt.wantTags))
			}
			for _, got := range list {
				want, ok := tt.wantTags[got.ID]
				if !ok || !slices.Equal(got.RepoTags, want) {
					t.Fatalf("loaded %s with tags %v, want %v (known: %v)", got.ID, got.RepoTags, want, ok)
				}
			}
			// Loading the same archive again is a no-op apart from output.
			if _, err := dst.Load(ctx, bytes.NewReader(buf.Bytes())); err != nil {
				t.Fatalf("reload: %v", err)
			}
		})
	}

}

func TestSaveDeterministicAndErrors(t *testing.T) {
	src, _ := newTestStore(t)
	importBusybox(t, src, "busybox:latest")
	ctx := context.Background()

	// Saving twice gives byte-identical archives.
	var a, b bytes.Buffer
	if err := src.Save(ctx, []string{"busybox"}, &a); err != nil {
		t.Fatal(err)
	}
	if err := src.Save(ctx, []string{"busybox"}, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("Save is not deterministic")
	}
	if err := src.Save(ctx, []string{"nope"}, io.Discard); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Save of missing image: %v, want ErrNotFound", err)
	}
	if err := src.Save(ctx, nil, io.Discard); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Save of nothing: %v, want ErrInvalid", err)
	}
}

// checkSaveLayout asserts the members docker load (classic and containerd
// stores) looks for.
func checkSaveLayout(t *testing.T, archive []byte) {
	t.Helper()
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("saved archive is not a tar: %v", err)
		}
		names[hdr.Name] = true
	}
	for _, n := range []string{"manifest.json", "index.json", "oci-layout", "blobs/sha256/"} {
		if !names[n] {
			t.Fatalf("saved archive lacks %s: %v", n, names)
		}
	}
}

func TestLoadOCILayout(t *testing.T) {
	layer := buildTar(t, dir("etc/"), file("etc/os-release", "ID=oci\n"), dir("bin/"), file("bin/tool", "#!/bin/sh\n"))
	tests := []struct {
		name    string
		ann     map[string]string
		nested  bool
		wantOut []string
	}{
		{name: "containerd name", ann: map[string]string{"io.containerd.image.name": "docker.io/library/ocitest:v1", "org.opencontainers.image.ref.name": "v1"},
			wantOut: []string{"Loaded image: ocitest:v1"}},
		{name: "full ref.name", ann: map[string]string{"org.opencontainers.image.ref.name": "example.com/oci/test:2"},
			wantOut: []string{"Loaded image: example.com/oci/test:2"}},
		{name: "bare tag ref.name stays untagged", ann: map[string]string{"org.opencontainers.image.ref.name": "latest"}},
		{name: "nested platform index", nested: true, ann: map[string]string{"io.containerd.image.name": "ocitest:multi"},
			wantOut: []string{"Loaded image: ocitest:multi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t)
			archive, id := ociArchive(t, layer, tt.ann, tt.nested)
			out, err := s.Load(context.Background(), bytes.NewReader(gzipBytes(t, archive)))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := tt.wantOut
			if want == nil {
				want = []string{"Loaded image ID: " + id}
			}
			if !slices.Equal(out, want) {
				t.Fatalf("Load output = %q, want %q", out, want)
			}
			img, err := s.Get(id)
			if err != nil || len(img.Layers) != 1 || img.Layers[0] != "sha256:"+sha(layer) {
				t.Fatalf("Get = %+v, %v", img, err)
			}
			merged, err := s.Mount(context.Background(), id, "oci")
			if err != nil {
				t.Fatal(err)
			}
			if data, err := os.ReadFile(filepath.Join(merged, "etc/os-release")); err != nil || string(data) != "ID=oci\n" {
				t.Fatalf("layer content = %q, %v", data, err)
			}
			if err := s.RemoveRootfs("oci"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// ociArchive builds an OCI image layout tar with one gzip layer and returns
// it with the image ID.
func ociArchive(t *testing.T, layer []byte, ann map[string]string, nested bool) ([]byte, string) {
	t.Helper()
	gz := gzipBytes(t, layer)
	cfg := testConfig(t, layer)
	manifest := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(cfg), "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + sha(gz), "size": len(gz)}},
	})
	members := []entry{
		dir("blobs/"), dir("blobs/sha256/"),
		file("blobs/sha256/"+sha(gz), string(gz)),
		file("blobs/sha256/"+sha(cfg), string(cfg)),
		file("blobs/sha256/"+sha(manifest), string(manifest)),
	}
	top := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest), "size": len(manifest), "annotations": ann}
	if nested {
		sub := mustJSON(t, map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.index.v1+json",
			"manifests": []any{
				map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest), "size": len(manifest),
					"platform": map[string]any{"os": "linux", "architecture": "amd64"}},
				map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest), "size": len(manifest),
					"platform": map[string]any{"os": "unknown", "architecture": "unknown"}},
			},
		})
		members = append(members, file("blobs/sha256/"+sha(sub), string(sub)))
		top = map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + sha(sub), "size": len(sub), "annotations": ann}
	}
	index := mustJSON(t, map[string]any{"schemaVersion": 2, "manifests": []any{top}})
	members = append(members, file("index.json", string(index)), file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`))
	return buildTar(t, members...), "sha256:" + sha(cfg)
}

func TestLoadFailureLeavesStoreUnchanged(t *testing.T) {
	good := buildTar(t, file("good", "g"))
	other := buildTar(t, file("other", "o"))
	var saved bytes.Buffer
	{
		s, _ := newTestStore(t)
		importBusybox(t, s, "busybox:latest")
		if err := s.Save(context.Background(), []string{"busybox"}, &saved); err != nil {
			t.Fatal(err)
		}
	}
	ociGood, _ := ociArchive(t, good, map[string]string{"io.containerd.image.name": "oci:bad"}, false)
	tests := []struct {
		name    string
		archive []byte
		wantMsg string
	}{
		{"garbage", bytes.Repeat([]byte("garbage!"), 1000), ""},
		{"empty", nil, ""},
		{"truncated save", saved.Bytes()[:saved.Len()/2], ""},
		{"no manifest", buildTar(t, file("hello", "x")), ""},
		{"diffID mismatch", dockerArchive(t, dockerImage{tags: []string{"bad:1"}, raw: [][]byte{good}, stored: [][]byte{other}}), "diffID mismatch"},
		{"missing layer file", dockerArchive(t, dockerImage{tags: []string{"bad:1"}, raw: [][]byte{good, other}, stored: [][]byte{good}}), ""},
		{"corrupt gzip layer", dockerArchive(t, dockerImage{tags: []string{"bad:1"}, raw: [][]byte{good}, stored: [][]byte{gzipBytes(t, good)[:20]}}), ""},
		{"bad tag", dockerArchive(t, dockerImage{tags: []string{"Bad:Tag!"}, raw: [][]byte{good}, stored: [][]byte{good}}), ""},
		{"second image broken", dockerArchive(t,
			dockerImage{tags: []string{"fine:1"}, raw: [][]byte{good}, stored: [][]byte{good}},
			dockerImage{tags: []string{"bad:1"}, raw: [][]byte{other}, stored: [][]byte{good}}), "diffID mismatch"},
		{"oci blob digest mismatch", rewriteTar(t, ociGood, func(name string, body []byte) []byte {
			if strings.HasPrefix(name, "blobs/sha256/") && bytes.HasPrefix(body, []byte(`{"config"`)) {
				return bytes.Replace(body, []byte(`"size":`), []byte(`"size": `), 1)
			}
			return body
		}), "has digest"},
		{"config not json", dockerArchive(t, dockerImage{tags: []string{"bad:1"}, config: []byte("{"), raw: [][]byte{good}, stored: [][]byte{good}}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, root := newTestStore(t)
			importBusybox(t, s, "busybox:latest")
			before := snapshot(t, root)
			out, err := s.Load(context.Background(), bytes.NewReader(tt.archive))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Load = %q, %v; want ErrInvalid mentioning %q", out, err, tt.wantMsg)
			}
			assertSnapshot(t, root, before)
			list, err := s.List()
			if err != nil || len(list) != 1 {
				t.Fatalf("half-loaded image visible: %+v, %v", list, err)
			}
			for _, ref := range []string{"fine:1", "bad:1", "oci:bad"} {
				if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get(%s) after failed load: %v", ref, err)
				}
			}
		})
	}
}

func TestLoadCancelled(t *testing.T) {
	s, root := newTestStore(t)
	before := snapshot(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	buf.Write(dockerArchive(t, dockerImage{tags: []string{"x:1"}, raw: [][]byte{buildTar(t, file("f", strings.Repeat("z", 1<<16)))},
		stored: [][]byte{buildTar(t, file("f", strings.Repeat("z", 1<<16)))}}))
	if _, err := s.Load(ctx, &buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with cancelled ctx = %v", err)
	}
	assertSnapshot(t, root, before)
}

// rewriteTar copies archive, passing every regular file through edit.
func rewriteTar(t *testing.T, archive []byte, edit func(name string, body []byte) []byte) []byte {
	t.Helper()
	var members []entry
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			body = edit(hdr.Name, body)
		}
		members = append(members, entry{name: hdr.Name, typ: hdr.Typeflag, body: string(body), link: hdr.Linkname, mode: hdr.Mode})
	}
	return buildTar(t, members...)
}
