package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/moby/moby/api/types/network"
)

func TestParsePublish(t *testing.T) {
	cases := map[string][]string{
		"80":                      {"80/tcp=:"},
		"8080:80":                 {"80/tcp=:8080"},
		"127.0.0.1:8080:80/udp":   {"80/udp=127.0.0.1:8080"},
		"127.0.0.1::80":           {"80/tcp=127.0.0.1:"},
		"[::1]:9000:90":           {"90/tcp=::1:9000"},
		"8000-8001:80-81":         {"80/tcp=:8000", "81/tcp=:8001"},
		"9000-9010:80":            {"80/tcp=:9000-9010"},
		"5353:53/udp":             {"53/udp=:5353"},
		"0.0.0.0:7000-7001:70-71": {"70/tcp=0.0.0.0:7000", "71/tcp=0.0.0.0:7001"},
	}
	for spec, want := range cases {
		set, bindings := network.PortSet{}, network.PortMap{}
		if err := parsePublish([]string{spec}, set, bindings); err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		var got []string
		for p, bs := range bindings {
			for _, b := range bs {
				ip := ""
				if b.HostIP.IsValid() {
					ip = b.HostIP.String()
				}
				got = append(got, p.String()+"="+ip+":"+b.HostPort)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", spec, got, want)
		}
		if len(set) != len(bindings) {
			t.Errorf("%s: exposed %v", spec, set)
		}
	}
	for _, bad := range []string{"abc", "1.2.3:80:80", "8000-8002:80-81", ""} {
		if err := parsePublish([]string{bad}, network.PortSet{}, network.PortMap{}); err == nil {
			t.Errorf("%q: expected error", bad)
		}
	}
}

func TestParseRestartAndHosts(t *testing.T) {
	if p, err := parseRestart("on-failure:5"); err != nil || p.MaximumRetryCount != 5 {
		t.Errorf("on-failure:5 -> %+v %v", p, err)
	}
	for _, bad := range []string{"sometimes", "always:3", "on-failure:x"} {
		if _, err := parseRestart(bad); err == nil {
			t.Errorf("%q: expected error", bad)
		}
	}
	for in, want := range map[string]string{
		"db:10.0.0.2": "db:10.0.0.2", "db=10.0.0.2": "db:10.0.0.2",
		"v6:::1": "v6:::1", "v6=[::1]": "v6:::1", "gw:host-gateway": "gw:host-gateway",
	} {
		if got, err := parseExtraHost(in); err != nil || got != want {
			t.Errorf("%q -> %q %v, want %q", in, got, err, want)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	t.Setenv("BERTH_TEST_PASSTHROUGH", "yes")
	p := filepath.Join(t.TempDir(), "env")
	content := "# comment\n\nA=1\n  B=two words\nBERTH_TEST_PASSTHROUGH\nBERTH_TEST_UNSET_VAR\nC=\"quoted\"\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readEnvFile(p)
	want := []string{"A=1", "B=two words", "BERTH_TEST_PASSTHROUGH=yes", `C="quoted"`}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q %v, want %q", got, err, want)
	}
}

func TestTarRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "f.txt"), []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, src, "renamed"); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := extractTar(bytes.NewReader(buf.Bytes()), dst, "copy"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "copy", "sub", "f.txt"))
	if err != nil || string(b) != "hello" {
		t.Errorf("extracted %q %v", b, err)
	}
}

func TestSplitCpArg(t *testing.T) {
	for in, want := range map[string][2]string{
		"web:/etc/hosts": {"web", "/etc/hosts"},
		"/abs:path":      {"", "/abs:path"},
		"./rel:x":        {"", "./rel:x"},
		"local":          {"", "local"},
	} {
		c, p := splitCpArg(in)
		if c != want[0] || p != want[1] {
			t.Errorf("%q -> %q %q", in, c, p)
		}
	}
}

func TestNaturalLess(t *testing.T) {
	names := []string{"net10", "bridge", "net2", "host", "net1"}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	if want := []string{"bridge", "host", "net1", "net2", "net10"}; !slices.Equal(names, want) {
		t.Errorf("got %v", names)
	}
}
