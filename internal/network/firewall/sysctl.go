package firewall

import (
	"fmt"
	"os"
	"path/filepath"
)

// The sysctls below live in the network namespace of the calling thread.

// EnableForwarding turns on IPv4 forwarding, and IPv6 forwarding on all
// interfaces when v6 is set; the ruleset does nothing without them.
func EnableForwarding(v6 bool) error {
	if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	if v6 {
		return writeSysctl("net/ipv6/conf/all/forwarding", "1")
	}
	return nil
}

// EnableRouteLocalnet lets the kernel route packets with a 127.0.0.0/8
// source out of bridge. Ports published on 127.0.0.1 need it: after the
// output hook DNATs a host connection to a container, the packet still has
// source 127.0.0.1 until postrouting masquerades it, and without this the
// reroute fails. The table's guard chain drops loopback-addressed packets
// arriving on any interface but lo, so the bridge does not become a way to
// reach the host's loopback services.
func EnableRouteLocalnet(bridge string) error {
	if err := validIfname(bridge); err != nil {
		return fmt.Errorf("enable route_localnet: %w", err)
	}
	return writeSysctl(filepath.Join("net/ipv4/conf", bridge, "route_localnet"), "1")
}

// EnableBridgeNetfilter makes bridged (same-bridge) IPv4 and, if v6, IPv6
// traffic traverse the inet forward hook, which Network.ICC == false relies
// on. It needs the br_netfilter module loaded.
func EnableBridgeNetfilter(v6 bool) error {
	if err := writeSysctl("net/bridge/bridge-nf-call-iptables", "1"); err != nil {
		return fmt.Errorf("%w (is br_netfilter loaded?)", err)
	}
	if v6 {
		return writeSysctl("net/bridge/bridge-nf-call-ip6tables", "1")
	}
	return nil
}

func writeSysctl(name, value string) error {
	p := filepath.Join("/proc/sys", name)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, err)
	}
	return nil
}
