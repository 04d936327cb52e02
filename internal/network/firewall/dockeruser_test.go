package firewall

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

func dockerUserRulesIn(t *testing.T, ns *testNS, bin string) []string {
	t.Helper()
	var rules []string
	for _, l := range strings.Split(ns.run(t, bin, "-w", "-S", dockerUserChain), "\n") {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	return rules
}

func TestDockerUser(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("needs iptables")
	}
	ns := newNetNS(t, "dockeruser")
	fw := newTestFirewall(t, ns)
	ctx := context.Background()
	if err := fw.Init(ctx); err != nil {
		t.Fatal(err)
	}

	// Without Docker there is nothing to do.
	if err := fw.AllowInDockerUser(ctx, "br-a"); err != nil {
		t.Fatalf("no DOCKER-USER chain: %v", err)
	}
	if out := ns.run(t, "iptables", "-w", "-S"); strings.Contains(out, "br-a") {
		t.Fatalf("rules added without a DOCKER-USER chain:\n%s", out)
	}

	// What Docker sets up: a drop policy on FORWARD, jumping to DOCKER-USER.
	ns.run(t, "iptables", "-w", "-N", dockerUserChain)
	ns.run(t, "iptables", "-w", "-P", "FORWARD", "DROP")
	ns.run(t, "iptables", "-w", "-I", "FORWARD", "-j", dockerUserChain)
	ns.run(t, "iptables", "-w", "-A", dockerUserChain, "-j", "RETURN")

	for range 2 {
		for _, br := range []string{"br-a", "br-b"} {
			if err := fw.AllowInDockerUser(ctx, br); err != nil {
				t.Fatal(err)
			}
		}
	}
	rules := dockerUserRulesIn(t, ns, "iptables")
	if len(rules) != 5 {
		t.Fatalf("want 4 berth rules and Docker's RETURN, got:\n%s", strings.Join(rules, "\n"))
	}
	if !strings.Contains(rules[len(rules)-1], "-j RETURN") {
		t.Errorf("berth rules must come before Docker's RETURN:\n%s", strings.Join(rules, "\n"))
	}
	tag := `"` + fw.dockerUserTag() + `"`
	for _, want := range []string{
		"-A DOCKER-USER -i br-a -m comment --comment " + tag + " -j ACCEPT",
		"-A DOCKER-USER -o br-a -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment " + tag + " -j ACCEPT",
	} {
		if !strings.Contains(strings.Join(rules, "\n"), want) {
			t.Errorf("missing %q in:\n%s", want, strings.Join(rules, "\n"))
		}
	}

	if err := fw.RemoveFromDockerUser(ctx, "br-a"); err != nil {
		t.Fatal(err)
	}
	if err := fw.RemoveFromDockerUser(ctx, "br-a"); err != nil {
		t.Fatal(err)
	}
	if rules := dockerUserRulesIn(t, ns, "iptables"); len(rules) != 3 || strings.Contains(strings.Join(rules, "\n"), "br-a") {
		t.Fatalf("after removing br-a:\n%s", strings.Join(rules, "\n"))
	}

	// Remove takes the remaining berth rules with it, and nothing else.
	if err := fw.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if rules := dockerUserRulesIn(t, ns, "iptables"); len(rules) != 1 {
		t.Fatalf("after Remove:\n%s", strings.Join(rules, "\n"))
	}

	if err := fw.AllowInDockerUser(ctx, "bad/name"); err == nil {
		t.Error("invalid bridge name accepted")
	}
}
