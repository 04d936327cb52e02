package firewall

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the kernel's ruleset")

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// requireRoot skips tests that program the kernel when they cannot.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, bin := range []string{"ip", "nft", "sysctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s: %v", bin, err)
		}
	}
}

// testNS is a throwaway named network namespace.
type testNS struct {
	name string
	fd   int
}

func newNetNS(t testing.TB, role string) *testNS {
	t.Helper()
	name := fmt.Sprintf("berth-fwtest-%s-%s", role, randHex(4))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	f, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	ns := &testNS{name: name, fd: int(f.Fd())}
	ns.run(t, "ip", "link", "set", "lo", "up")
	// Duplicate address detection only delays IPv6 tests by seconds.
	ns.run(t, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	return ns
}

// run executes a command in the namespace and fails the test on error.
func (ns *testNS) run(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", ns.name}, args...)...)
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newTestFirewall programs a uniquely named table in ns and removes it at
// the end of the test.
func newTestFirewall(t testing.TB, ns *testNS) *Firewall {
	t.Helper()
	fw, err := New(Options{Table: "berth_" + randHex(4), NetNS: ns.fd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fw.Remove(context.Background()); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	return fw
}

// listTable returns `nft list table` with the table renamed to berth_test
// and set elements sorted one per line, so that golden files depend neither
// on the random name nor on the order the kernel keeps elements in.
func listTable(t testing.TB, ns *testNS, fw *Firewall) string {
	t.Helper()
	out := ns.run(t, "nft", "list", "table", "inet", fw.table.Name)
	out = strings.Replace(out, "table inet "+fw.table.Name+" {", "table inet berth_test {", 1)
	return sortElements(out)
}

func sortElements(listing string) string {
	var b strings.Builder
	lines := strings.Split(listing, "\n")
	for i := 0; i < len(lines); i++ {
		indent, rest, ok := strings.Cut(lines[i], "elements = { ")
		if !ok {
			b.WriteString(lines[i] + "\n")
			continue
		}
		block := rest
		for !strings.HasSuffix(strings.TrimSpace(block), "}") && i+1 < len(lines) {
			i++
			block += " " + strings.TrimSpace(lines[i])
		}
		block = strings.TrimSuffix(strings.TrimSpace(block), "}")
		var elems []string
		for _, e := range strings.Split(block, ",") {
			elems = append(elems, strings.TrimSpace(e))
		}
		slices.Sort(elems)
		b.WriteString(indent + "elements = {\n")
		for _, e := range elems {
			b.WriteString(indent + "\t" + e + ",\n")
		}
		b.WriteString(indent + "}\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("ruleset differs from %s (-want +got):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines only one of a and b has, enough to spot a
// difference in a ruleset listing.
func lineDiff(a, b string) string {
	count := make(map[string]int)
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var out []string
	for l, n := range count {
		for ; n > 0; n-- {
			out = append(out, "-"+l)
		}
		for ; n < 0; n++ {
			out = append(out, "+"+l)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
