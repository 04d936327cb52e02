package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

func TestNormalizeTag(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "busybox", want: "busybox:latest"},
		{in: "busybox:latest", want: "busybox:latest"},
		{in: "busybox:1.36", want: "busybox:1.36"},
		{in: "library/busybox", want: "busybox:latest"},
		{in: "docker.io/library/busybox:latest", want: "busybox:latest"},
		{in: "index.docker.io/library/busybox", want: "busybox:latest"},
		{in: "docker.io/someone/app:v1", want: "someone/app:v1"},
		{in: "localhost:5000/app", want: "localhost:5000/app:latest"},
		{in: "ghcr.io/org/app:2", want: "ghcr.io/org/app:2"},
		{in: "BusyBox", wantErr: true},
		{in: "", wantErr: true},
		{in: "busybox:bad tag", wantErr: true},
		{in: "busybox@sha256:" + sha([]byte("x")), wantErr: true},
		{in: sha([]byte("x")), wantErr: true},
		{in: "sha256:abc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeTag(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("NormalizeTag(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeTag(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

type parseChangesCase struct {
	name    string
	changes []string
	check   func(c dockerspec.DockerOCIImageConfig) bool
	wantErr bool
}

// parseChangesCases run against a base with Env PATH=/bin, KEEP=1 and
// WorkingDir /srv.
func parseChangesCases() []parseChangesCase {
	return []parseChangesCase{
		{name: "cmd exec", changes: []string{`CMD ["sh", "-c", "echo hi"]`},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.Cmd, []string{"sh", "-c", "echo hi"})
			}},
		{name: "cmd shell", changes: []string{"CMD echo hi"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "echo hi"})
			}},
		{name: "entrypoint lowercase keyword", changes: []string{`entrypoint ["/bin/app"]`},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.Entrypoint, []string{"/bin/app"})
			}},
		{name: "env pairs and quotes", changes: []string{`ENV A=1 B="two words" PATH=/usr/bin`},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.Env, []string{"PATH=/usr/bin", "KEEP=1", "A=1", "B=two words"})
			}},
		{name: "env legacy form", changes: []string{"ENV GREETING hello world"},
			check: func(c dockerspec.DockerOCIImageConfig) bool { return c.Env[2] == "GREETING=hello world" }},
		{name: "label", changes: []string{`LABEL a=b "c d"='e f'`},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.Labels, map[string]string{"a": "b", "c d": "e f"})
			}},
		{name: "expose", changes: []string{"EXPOSE 80 53/udp 8000-8001/tcp"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
			}},
		{name: "workdir relative", changes: []string{"WORKDIR app"},
			check: func(c dockerspec.DockerOCIImageConfig) bool { return c.WorkingDir == "/srv/app" }},
		{name: "workdir absolute", changes: []string{"WORKDIR /data"},
			check: func(c dockerspec.DockerOCIImageConfig) bool { return c.WorkingDir == "/data" }},
		{name: "user and stopsignal", changes: []string{"USER nobody:nobody", "STOPSIGNAL SIGINT"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return c.User == "nobody:nobody" && c.StopSignal == "SIGINT"
			}},
		{name: "volume json and plain", changes: []string{`VOLUME ["/a"]`, "VOLUME /b /c"},
			check: func(c dockerspec.DockerOCIImageConfig) bool { return len(c.Volumes) == 3 }},
		{name: "onbuild", changes: []string{"ONBUILD RUN make"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.OnBuild, []string{"RUN make"})
			}},
		{name: "blank lines ignored", changes: []string{"", "  "},
			check: func(c dockerspec.DockerOCIImageConfig) bool { return len(c.Env) == 2 }},
		{name: "unknown instruction", changes: []string{"RUN rm -rf /"}, wantErr: true},
		{name: "bad port", changes: []string{"EXPOSE 99999"}, wantErr: true},
		{name: "bad proto", changes: []string{"EXPOSE 80/icmp"}, wantErr: true},
		{name: "env without value", changes: []string{"ENV LONELY"}, wantErr: true},
		{name: "unterminated quote", changes: []string{`LABEL a="b`}, wantErr: true},
		{name: "empty user", changes: []string{"USER"}, wantErr: true},
	}
}

func TestParseChanges(t *testing.T) {
	base := dockerspec.DockerOCIImageConfig{}
	base.Env = []string{"PATH=/bin", "KEEP=1"}
	base.WorkingDir = "/srv"
	for _, tt := range parseChangesCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChanges(base, tt.changes)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseChanges(%q) error = %v, want ErrInvalid", tt.changes, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseChanges(%q): %v", tt.changes, err)
			}
			if !tt.check(got) {
				t.Fatalf("ParseChanges(%q) = %+v", tt.changes, got)
			}
			if !reflect.DeepEqual(base.Env, []string{"PATH=/bin", "KEEP=1"}) {
				t.Fatalf("base config was modified: %v", base.Env)
			}
		})
	}
}

func TestImportAndGet(t *testing.T) {
	s, root := newTestStore(t)
	changes := []string{`CMD ["sh"]`, "ENV FOO=bar", "WORKDIR /root", "EXPOSE 8080", "LABEL org=berth", "USER root", "STOPSIGNAL SIGTERM"}
	img, err := s.Import(context.Background(), bytes.NewReader(gzipBytes(t, busyboxRootfs(t, nil))), "docker.io/library/busybox:latest", changes, "imported by test")
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !reflect.DeepEqual(img.RepoTags, []string{"busybox:latest"}) || len(img.Layers) != 1 || img.Size <= 0 {
		t.Fatalf("unexpected image: %+v", img)
	}
	c := img.Config
	if !reflect.DeepEqual(c.Cmd, []string{"sh"}) || c.WorkingDir != "/root" || c.Labels["org"] != "berth" ||
		c.User != "root" || c.StopSignal != "SIGTERM" || len(c.ExposedPorts) != 1 || c.Env[0] != "FOO=bar" {
		t.Fatalf("config not applied: %+v", c)
	}
	if img.OS != "linux" || img.Architecture != runtime.GOARCH || img.Created.IsZero() {
		t.Fatalf("platform/created not set: %+v", img)
	}
	if len(img.History) != 1 || img.History[0].Comment != "imported by test" {
		t.Fatalf("history = %+v", img.History)
	}
	hexID := hexOf(img.ID)
	if got := sha(mustRead(t, filepath.Join(root, "blobs/sha256", hexID))); got != hexID {
		t.Fatalf("config blob is not content-addressed: %s != %s", got, hexID)
	}
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox",
		img.ID, hexID, hexID[:12], hexID[:4], "sha256:" + hexID[:10]} {
		got, err := s.Get(ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %s, %v; want %s", ref, got.ID, err, img.ID)
		}
	}
	for _, ref := range []string{"nope", "busybox:other", "sha256:" + sha([]byte("none")), "ghcr.io/busybox", "busybox@sha256:" + sha(nil)} {
		_, err := s.Get(ref)
		if !errors.Is(err, ErrNotFound) || err.Error() != "No such image: "+ref {
			t.Errorf("Get(%q) error = %v; want ErrNotFound with Docker's message", ref, err)
		}
	}
	if _, err := s.Get("Upper/Case"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get of malformed reference: %v, want ErrInvalid", err)
	}

	// The index survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(root, testLogger(t))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	list, err := s2.List()
	if err != nil || len(list) != 1 || list[0].ID != img.ID || !reflect.DeepEqual(list[0].RepoTags, img.RepoTags) {
		t.Fatalf("List after reopen = %+v, %v", list, err)
	}
}

func TestSecondStoreOnSameRootRefused(t *testing.T) {
	_, root := newTestStore(t)
	if s2, err := New(root, testLogger(t)); err == nil {
		s2.Close()
		t.Fatal("second New on a root in use succeeded")
	}
}

func TestImportUntaggedAndAmbiguousPrefix(t *testing.T) {
	s, _ := newTestStore(t)
	a := importBusybox(t, s, "")
	if len(a.RepoTags) != 0 {
		t.Fatalf("untagged import has tags %v", a.RepoTags)
	}
	b := importBusybox(t, s, "")
	if a.ID == b.ID || !reflect.DeepEqual(a.Layers, b.Layers) {
		t.Fatalf("expected distinct images sharing one layer: %s %s", a.ID, b.ID)
	}
	if _, err := s.Get("sha256:"); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(sha256:) = %v", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d images, %v", len(list), err)
	}
}

func TestImportRejectsGarbage(t *testing.T) {
	s, root := newTestStore(t)
	before := snapshot(t, root)
	_, err := s.Import(context.Background(), bytes.NewReader(bytes.Repeat([]byte("not a tar "), 200)), "junk", nil, "")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Import(garbage) = %v, want ErrInvalid", err)
	}
	_, err = s.Import(context.Background(), bytes.NewReader(nil), "junk", []string{"FROBNICATE x"}, "")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Import with bad change = %v, want ErrInvalid", err)
	}
	assertSnapshot(t, root, before)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func assertSnapshot(t *testing.T, root string, before map[string]string) {
	t.Helper()
	after := snapshot(t, root)
	for p, d := range before {
		if after[p] != d {
			t.Errorf("store changed at %s: %q → %q", p, d, after[p])
		}
	}
	for p, d := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("store gained %s (%s)", p, d)
		}
	}
	if left := readDirNames(t, filepath.Join(root, "tmp")); len(left) != 0 {
		t.Errorf("staging dir not cleaned: %v", left)
	}
}
