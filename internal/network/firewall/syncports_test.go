package firewall

import (
	"context"
	"strings"
	"testing"
)

// TestSyncPorts: SyncPorts keeps the wanted mappings of every map shape,
// removes the others, fixes a changed value, and is a no-op when repeated.
func TestSyncPorts(t *testing.T) {
	requireRoot(t)
	ns := newNetNS(t, "syncports")
	fw := newTestFirewall(t, ns)
	ctx := context.Background()
	keep := []PortMapping{
		{Proto: "tcp", HostIP: addr("10.1.0.1"), HostPort: 80, ContainerIP: addr("10.0.0.2"), ContainerPort: 8080},
		{Proto: "udp", HostPort: 53, ContainerIP: addr("10.0.0.2"), ContainerPort: 53},
		{Proto: "tcp", HostPort: 8000, HostPortEnd: 8010, ContainerIP: addr("10.0.0.3"), ContainerPort: 80},
		{Proto: "tcp", HostPort: 20000, HostPortEnd: 20999, ContainerIP: addr("10.0.0.3"), ContainerPort: 20000},
		{Proto: "tcp", HostIP: addr("fd00::1"), HostPort: 443, ContainerIP: addr("fd00::2"), ContainerPort: 443},
		{Proto: "tcp", HostPort: 30000, HostPortEnd: 30005, ContainerIP: addr("fd00::3"), ContainerPort: 30000},
	}
	stale := []PortMapping{
		{Proto: "tcp", HostIP: addr("10.1.0.1"), HostPort: 81, ContainerIP: addr("10.0.0.9"), ContainerPort: 81},
		{Proto: "tcp", HostPort: 7777, ContainerIP: addr("10.0.0.9"), ContainerPort: 80},
		{Proto: "udp", HostPort: 9000, HostPortEnd: 9009, ContainerIP: addr("10.0.0.9"), ContainerPort: 9000},
		{Proto: "tcp", HostPort: 40000, HostPortEnd: 40002, ContainerIP: addr("fd00::9"), ContainerPort: 80},
	}
	moved := PortMapping{Proto: "udp", HostPort: 53, ContainerIP: addr("10.0.0.9"), ContainerPort: 53}
	if err := fw.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fw.AddPorts(ctx, append(append([]PortMapping{}, keep[2:]...), stale...)); err != nil {
		t.Fatal(err)
	}
	if err := fw.AddPorts(ctx, []PortMapping{keep[0], moved}); err != nil {
		t.Fatal(err)
	}
	if err := fw.SyncPorts(ctx, keep); err != nil {
		t.Fatalf("SyncPorts: %v", err)
	}
	got := listTable(t, ns, fw)
	for _, bad := range []string{"10.0.0.9", "fd00::9", "7777"} {
		if strings.Contains(got, bad) {
			t.Fatalf("after SyncPorts the table still holds %s:\n%s", bad, got)
		}
	}
	want := map[string]bool{}
	for _, w := range []string{"10.1.0.1 . tcp . 80 : 10.0.0.2 . 8080", "udp . 53 : 10.0.0.2 . 53",
		"8000-8010 : 10.0.0.3 . 80", "20000-20999 : 10.0.0.3", "fd00::1 . tcp . 443 : fd00::2 . 443", "30000-30005 : fd00::3"} {
		want[w] = strings.Contains(got, w)
	}
	for w, ok := range want {
		if !ok {
			t.Errorf("after SyncPorts the table lacks %q", w)
		}
	}
	if t.Failed() {
		t.Fatalf("table:\n%s", got)
	}
	if err := fw.SyncPorts(ctx, keep); err != nil {
		t.Fatalf("second SyncPorts: %v", err)
	}
	if again := listTable(t, ns, fw); again != got {
		t.Fatalf("a repeated SyncPorts changed the table:\n%s", lineDiff(got, again))
	}
	if err := fw.SyncPorts(ctx, nil); err != nil {
		t.Fatalf("SyncPorts(nil): %v", err)
	}
	if err := fw.DelNetwork(ctx, "none"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "init", listTable(t, ns, fw))
}
