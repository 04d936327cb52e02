package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

type useFunc = func(string) (string, bool, bool)

func usedBy(ctr string, running bool) useFunc {
	return func(string) (string, bool, bool) { return ctr, running, true }
}

func TestDeleteTagsAndGC(t *testing.T) {
	s, root := newTestStore(t)
	img := importBusybox(t, s, "busybox:latest")
	layer := img.Layers[0]
	for _, tag := range []string{"busybox:v2", "other:1"} {
		if err := s.Tag("busybox", tag); err != nil {
			t.Fatalf("Tag %s: %v", tag, err)
		}
	}
	if err := s.Tag("busybox", "bad@sha256:"+sha(nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Tag with digest: %v, want ErrInvalid", err)
	}
	if err := s.Tag("missing", "x:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Tag of missing image: %v, want ErrNotFound", err)
	}
	// A second image sharing the layer keeps it alive.
	twin := importBusybox(t, s, "twin:1")

	steps := []struct {
		ref     string
		force   bool
		want    []DeleteItem
		wantErr error
	}{
		{ref: "busybox:v2", want: []DeleteItem{{Untagged: "busybox:v2"}}},
		{ref: img.ID, wantErr: ErrConflict}, // two tags left
		{ref: "docker.io/library/other:1", want: []DeleteItem{{Untagged: "other:1"}}},
		{ref: ShortID(img.ID), want: []DeleteItem{{Untagged: "busybox:latest"}, {Deleted: img.ID}}},
		{ref: "busybox", wantErr: ErrNotFound},
		{ref: "twin:1", want: []DeleteItem{{Untagged: "twin:1"}, {Deleted: twin.ID}, {Deleted: layer}}},
	}
	for i, st := range steps {
		got, err := s.Delete(st.ref, st.force, nil)
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("step %d: Delete(%q) = %v, %v; want %v", i, st.ref, got, err, st.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, st.want) {
			t.Fatalf("step %d: Delete(%q) = %+v, %v; want %+v", i, st.ref, got, err, st.want)
		}
		if i == 3 {
			if _, err := os.Stat(filepath.Join(root, "layers", hexOf(layer))); err != nil {
				t.Fatalf("shared layer collected while twin uses it: %v", err)
			}
		}
	}
	for _, d := range []string{"blobs/sha256", "layers", "containers", "tmp"} {
		if left := readDirNames(t, filepath.Join(root, d)); len(left) != 0 {
			t.Errorf("%s not garbage collected: %v", d, left)
		}
	}
}

func TestDeleteForceUntagsAll(t *testing.T) {
	s, _ := newTestStore(t)
	img := importBusybox(t, s, "busybox:latest")
	if err := s.Tag(img.ID, "b:2"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Delete(img.ID, true, nil)
	want := []DeleteItem{{Untagged: "b:2"}, {Untagged: "busybox:latest"}, {Deleted: img.ID}, {Deleted: img.Layers[0]}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Delete(force) = %+v, %v; want %+v", got, err, want)
	}
}

func TestDeleteConflicts(t *testing.T) {
	const ctr = "0123456789abcdef0123"
	tests := []struct {
		name    string
		extra   []string // additional tags
		byID    bool
		force   bool
		inUse   useFunc
		wantErr string
		want    func(id string) []DeleteItem
	}{
		{name: "running blocks even with force", byID: true, force: true, inUse: usedBy(ctr, true),
			wantErr: "conflict: unable to delete %s (cannot be forced) - image is being used by running container 0123456789ab"},
		{name: "stopped needs force", byID: true, inUse: usedBy(ctr, false),
			wantErr: "conflict: unable to delete %s (must be forced) - image is being used by stopped container 0123456789ab"},
		{name: "stopped with force deletes", byID: true, force: true, inUse: usedBy(ctr, false),
			want: func(id string) []DeleteItem { return []DeleteItem{{Untagged: "busybox:latest"}, {Deleted: id}} }},
		{name: "last tag with container needs force", inUse: usedBy(ctr, false),
			wantErr: `conflict: unable to remove repository reference "busybox" (must force) - container 0123456789ab is using its referenced image %s`},
		{name: "last tag forced leaves dangling image", force: true, inUse: usedBy(ctr, true),
			want: func(string) []DeleteItem { return []DeleteItem{{Untagged: "busybox:latest"}} }},
		{name: "one of several tags untags despite container", extra: []string{"busybox:v2"}, inUse: usedBy(ctr, true),
			want: func(string) []DeleteItem { return []DeleteItem{{Untagged: "busybox:latest"}} }},
		{name: "multiple tags by id needs force", extra: []string{"busybox:v2"}, byID: true,
			wantErr: "conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories"},
		{name: "unused callback result", byID: true, inUse: func(string) (string, bool, bool) { return "", false, false },
			want: func(id string) []DeleteItem { return []DeleteItem{{Untagged: "busybox:latest"}, {Deleted: id}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t)
			img := importBusybox(t, s, "busybox:latest")
			for _, tag := range tt.extra {
				if err := s.Tag(img.ID, tag); err != nil {
					t.Fatal(err)
				}
			}
			ref := "busybox"
			if tt.byID {
				ref = ShortID(img.ID)
			}
			got, err := s.Delete(ref, tt.force, tt.inUse)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "%s", ShortID(img.ID))
				if !errors.Is(err, ErrConflict) || err.Error() != want {
					t.Fatalf("Delete = %v, %v;\nwant %q", got, err, want)
				}
				if _, err := s.Get(img.ID); err != nil {
					t.Fatalf("image gone after refused delete: %v", err)
				}
				return
			}
			want := tt.want(img.ID)
			if err != nil || !reflect.DeepEqual(got[:min(len(got), len(want))], want) {
				t.Fatalf("Delete = %+v, %v; want prefix %+v", got, err, want)
			}
		})
	}
}

func TestContainerKeepsLayersOfDeletedImage(t *testing.T) {
	s, root := newTestStore(t)
	img := importBusybox(t, s, "busybox:latest")
	merged, err := s.Mount(context.Background(), img.ID, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Unmount("keep"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Delete(img.ID, true, usedBy("keep", false))
	if err != nil || len(got) != 2 {
		t.Fatalf("Delete(force) = %+v, %v; want untag + image only", got, err)
	}
	layerDir := filepath.Join(root, "layers", hexOf(img.Layers[0]))
	if _, err := os.Stat(layerDir); err != nil {
		t.Fatalf("layer of a container collected: %v", err)
	}
	// The container still mounts after a restart-time collection.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(root, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Mount(context.Background(), img.ID, "keep"); err != nil {
		t.Fatalf("remount after image deletion: %v", err)
	}
	if _, err := os.Stat(filepath.Join(merged, "bin/busybox")); err != nil {
		t.Fatal(err)
	}
	if err := s2.RemoveRootfs("keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(layerDir); !os.IsNotExist(err) {
		t.Fatalf("layer not collected after last container removed: %v", err)
	}
}

// TestConcurrentImportDelete exercises the leases that keep gc from
// removing content an in-flight import has written but not committed.
func TestConcurrentImportDelete(t *testing.T) {
	s, root := newTestStore(t)
	rootfs := busyboxRootfs(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				ref := fmt.Sprintf("w%d:%d", w, i)
				img, err := s.Import(context.Background(), bytes.NewReader(rootfs), ref, nil, "")
				if err != nil {
					errs <- fmt.Errorf("import %s: %w", ref, err)
					return
				}
				if i%2 == 1 {
					if _, err := s.Delete(img.ID, true, nil); err != nil {
						errs <- fmt.Errorf("delete %s: %w", ref, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 8 {
		t.Fatalf("List = %d images, %v; want 8", len(list), err)
	}
	for _, img := range list {
		if _, err := os.Stat(filepath.Join(root, "layers", hexOf(img.Layers[0]), "bin/busybox")); err != nil {
			t.Fatalf("layer of %v missing: %v", img.RepoTags, err)
		}
	}
	if layers := readDirNames(t, filepath.Join(root, "layers")); !slices.Equal(layers, []string{hexOf(list[0].Layers[0])}) {
		t.Fatalf("layers = %v, want the single shared layer", layers)
	}
}
