package container

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSpecDefaults(t *testing.T) {
	s, err := Spec(SpecInput{ID: "abc", Rootfs: "/r", Args: []string{"sh"}, NetNSPath: "/run/ns/abc", HostsPath: "/h"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Process.Capabilities.Bounding; len(got) != len(defaultCaps) {
		t.Errorf("Bounding caps = %v, want Docker's %d defaults", got, len(defaultCaps))
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Errorf("Seccomp = %+v, want the default profile", s.Linux.Seccomp)
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") {
		t.Errorf("MaskedPaths = %v, want /proc/kcore", s.Linux.MaskedPaths)
	}
	var netns string
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			netns = n.Path
		}
	}
	if netns != "/run/ns/abc" {
		t.Errorf("network namespace path = %q, want %q", netns, "/run/ns/abc")
	}
	if s.Process.Cwd != "/" || s.Linux.CgroupsPath != "/berth/abc" {
		t.Errorf("Cwd, CgroupsPath = %q, %q", s.Process.Cwd, s.Linux.CgroupsPath)
	}
}

func TestSpecHostNetwork(t *testing.T) {
	s, err := Spec(SpecInput{ID: "abc", Rootfs: "/r", Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			t.Fatalf("host network: spec has a network namespace %+v", n)
		}
	}
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name      string
		add, drop []string
		has, not  string
		wantErr   bool
	}{
		{"add", []string{"NET_ADMIN"}, nil, "CAP_NET_ADMIN", "", false},
		{"drop", nil, []string{"net_raw"}, "CAP_CHOWN", "CAP_NET_RAW", false},
		{"drop all add one", []string{"KILL"}, []string{"ALL"}, "CAP_KILL", "CAP_CHOWN", false},
		{"unknown", []string{"FLY"}, nil, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := capabilities(SpecInput{CapAdd: tt.add, CapDrop: tt.drop})
			if (err != nil) != tt.wantErr {
				t.Fatalf("capabilities(add=%v, drop=%v) error = %v, want error %v", tt.add, tt.drop, err, tt.wantErr)
			}
			if tt.has != "" && !slices.Contains(got, tt.has) {
				t.Errorf("capabilities(add=%v, drop=%v) = %v, want %s", tt.add, tt.drop, got, tt.has)
			}
			if tt.not != "" && slices.Contains(got, tt.not) {
				t.Errorf("capabilities(add=%v, drop=%v) = %v, must not have %s", tt.add, tt.drop, got, tt.not)
			}
		})
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	tests := []struct {
		in       string
		uid, gid uint32
		wantErr  bool
	}{
		{"", 0, 0, false}, {"nobody", 65534, 65534, false}, {"1000", 1000, 0, false},
		{"1000:50", 1000, 50, false}, {"nobody:staff", 65534, 50, false}, {"ghost", 0, 0, true},
	}
	for _, tt := range tests {
		uid, gid, err := ResolveUser(root, tt.in)
		if (err != nil) != tt.wantErr || uid != tt.uid || gid != tt.gid {
			t.Errorf("ResolveUser(%q) = %d, %d, %v; want %d, %d, error %v", tt.in, uid, gid, err, tt.uid, tt.gid, tt.wantErr)
		}
	}
}
