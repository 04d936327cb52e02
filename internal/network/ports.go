package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/firewall"
	"github.com/berth-project/berth/internal/network/portmap"
	mobynet "github.com/moby/moby/api/types/network"
)

// Publish holds the host ports of a container's bindings and installs their
// DNAT map elements in one firewall transaction. All or nothing.
func (m *Manager) Publish(ctx context.Context, cid string, ep container.Endpoint, pm mobynet.PortMap, publishAll bool, exposed mobynet.PortSet) (out []container.PortBinding, err error) {
	wanted, err := bindingsFrom(pm, publishAll, exposed)
	if err != nil || len(wanted) == 0 {
		return nil, err
	}
	var releases []func() error
	defer func() {
		if err != nil {
			for _, r := range releases {
				r()
			}
		}
	}()
	for _, b := range wanted {
		got, release, rerr := m.reserve(b)
		if rerr != nil {
			// Already allocated by berth or bound by another program: both conflicts.
			return nil, errdefs.AsConflict(rerr)
		}
		releases = append(releases, release)
		out = append(out, toRecord(got))
	}
	maps, err := m.mappings(ep, out)
	if err != nil {
		return nil, err
	}
	if err := m.addPorts(ctx, maps); err != nil {
		return nil, fmt.Errorf("publish ports: %w", err)
	}
	m.mu.Lock()
	m.held[cid] = append(m.held[cid], releases...)
	m.mu.Unlock()
	return out, nil
}

// reserve holds b's host ports. A host range for a single container port
// means "any one port of the range", as in Docker.
func (m *Manager) reserve(b portmap.Binding) (portmap.Binding, func() error, error) {
	if b.HostPortEnd == b.HostPort || b.ContainerPortEnd != b.ContainerPort {
		return m.ports.Reserve(b)
	}
	var lastErr error
	for p := uint32(b.HostPort); p <= uint32(b.HostPortEnd); p++ {
		one := b
		one.HostPort, one.HostPortEnd = uint16(p), uint16(p)
		got, release, err := m.ports.Reserve(one)
		if err == nil {
			return got, release, nil
		}
		lastErr = err
	}
	return b, nil, lastErr
}

// Unpublish removes a container's DNAT elements and frees its host ports.
func (m *Manager) Unpublish(ctx context.Context, cid string, ep container.Endpoint, ports []container.PortBinding) error {
	var errs []error
	if len(ports) > 0 {
		if maps, err := m.mappings(ep, ports); err == nil {
			errs = append(errs, m.fw.DelPorts(ctx, maps))
		}
	}
	m.mu.Lock()
	releases := m.held[cid]
	delete(m.held, cid)
	m.mu.Unlock()
	for _, r := range releases {
		errs = append(errs, r())
	}
	return errors.Join(errs...)
}

// addPorts installs maps. A mapping the host reaches through 127.0.0.1 (one
// on 127.0.0.1 or on every address) needs route_localnet on its bridge:
// after the output hook DNATs a host connection, the packet keeps its
// loopback source until postrouting masquerades it, and the kernel would
// refuse to route it out of the bridge. The firewall's guard chain drops
// loopback-addressed packets from anywhere but lo, so the sysctl opens no
// way in from other machines or containers (moby#45610).
func (m *Manager) addPorts(ctx context.Context, maps []firewall.PortMapping) error {
	m.enableRouteLocalnet(maps)
	return m.fw.AddPorts(ctx, maps)
}

func (m *Manager) enableRouteLocalnet(maps []firewall.PortMapping) {
	done := map[string]bool{}
	for _, pm := range maps {
		if done[pm.Bridge] || !pm.ContainerIP.Is4() || (pm.HostIP.IsValid() && !pm.HostIP.IsUnspecified() && !pm.HostIP.IsLoopback()) {
			continue
		}
		done[pm.Bridge] = true
		if err := firewall.EnableRouteLocalnet(pm.Bridge); err != nil {
			m.log.Warn("ports published on 127.0.0.1 will not answer from the host", "bridge", pm.Bridge, "err", err)
		}
	}
}

func (m *Manager) mappings(ep container.Endpoint, ports []container.PortBinding) ([]firewall.PortMapping, error) {
	m.mu.Lock()
	n, ok := m.nets[ep.NetworkID]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("network %s is gone", ep.NetworkName)
	}
	return mappingsOn(n, ep, ports)
}

// mappingsOn turns a container's recorded bindings into firewall mappings
// to its addresses on network n.
func mappingsOn(n *netState, ep container.Endpoint, ports []container.PortBinding) ([]firewall.PortMapping, error) {
	v4, _ := netip.ParsePrefix(ep.IPv4)
	v6, _ := netip.ParsePrefix(ep.IPv6)
	var out []firewall.PortMapping
	for _, p := range ports {
		hip, _ := netip.ParseAddr(p.HostIP)
		// Every host address means both families where the container has
		// both; a given host address, its own family.
		var cips []netip.Addr
		for _, c := range []netip.Prefix{v4, v6} {
			if c.IsValid() && (!hip.IsValid() || hip.Is4() == c.Addr().Is4()) {
				cips = append(cips, c.Addr())
			}
		}
		if len(cips) == 0 {
			return nil, errdefs.Invalidf("cannot publish %s: the container has no address of that family on %s", p.HostIP, ep.NetworkName)
		}
		for _, cip := range cips {
			pm := firewall.PortMapping{
				Proto: p.Proto, HostIP: hip, HostPort: p.HostPort, HostPortEnd: p.HostPortEnd,
				ContainerIP: cip, ContainerPort: p.ContainerPort, Bridge: n.rec.Bridge,
			}
			out = append(out, expand(pm, p.ContainerEnd)...)
		}
	}
	return out, nil
}

// expand splits a host range published on a container range at another
// offset (8000-8009:9000-9009) into one mapping per port: nftables cannot
// add an offset to a port, and a firewall range mapping means either "the
// same port" (ContainerPort == HostPort) or "all to ContainerPort".
func expand(pm firewall.PortMapping, containerEnd uint16) []firewall.PortMapping {
	if pm.HostPortEnd <= pm.HostPort || containerEnd <= pm.ContainerPort || pm.ContainerPort == pm.HostPort {
		return []firewall.PortMapping{pm}
	}
	out := make([]firewall.PortMapping, 0, int(pm.HostPortEnd-pm.HostPort)+1)
	for i := 0; i <= int(pm.HostPortEnd-pm.HostPort); i++ {
		one := pm
		one.HostPort = pm.HostPort + uint16(i)
		one.HostPortEnd = one.HostPort
		one.ContainerPort = pm.ContainerPort + uint16(i)
		out = append(out, one)
	}
	return out
}

func toRecord(b portmap.Binding) container.PortBinding {
	hip := ""
	if b.HostIP.IsValid() {
		hip = b.HostIP.String()
	}
	return container.PortBinding{
		Proto: b.Proto, HostIP: hip, HostPort: b.HostPort, HostPortEnd: b.HostPortEnd,
		ContainerPort: b.ContainerPort, ContainerEnd: b.ContainerPortEnd,
	}
}

// bindingsFrom turns the API's per-port map into bindings, merging runs of
// consecutive ports (the CLI sends a range one port at a time) back into
// ranges, so a 1000-port range is one reservation call and one map element.
func bindingsFrom(pm mobynet.PortMap, publishAll bool, exposed mobynet.PortSet) ([]portmap.Binding, error) {
	var bs []portmap.Binding
	for port, list := range pm {
		for _, pb := range list {
			b := portmap.Binding{Proto: string(port.Proto()), HostIP: pb.HostIP, ContainerPort: port.Num(), ContainerPortEnd: port.Num()}
			if b.HostIP.IsValid() && b.HostIP.IsUnspecified() && b.HostIP.Is4() {
				b.HostIP = netip.Addr{}
			}
			lo, hi, err := parseHostPorts(pb.HostPort)
			if err != nil {
				return nil, errdefs.Invalidf("invalid port specification: %q", pb.HostPort)
			}
			b.HostPort, b.HostPortEnd = lo, hi
			bs = append(bs, b)
		}
		if len(list) == 0 && publishAll {
			bs = append(bs, portmap.Binding{Proto: string(port.Proto()), ContainerPort: port.Num(), ContainerPortEnd: port.Num()})
		}
	}
	if publishAll {
		for port := range exposed {
			if _, ok := pm[port]; !ok {
				bs = append(bs, portmap.Binding{Proto: string(port.Proto()), ContainerPort: port.Num(), ContainerPortEnd: port.Num()})
			}
		}
	}
	return coalesce(bs), nil
}

func parseHostPorts(s string) (uint16, uint16, error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	hi := lo
	if isRange {
		if hi, err = strconv.ParseUint(b, 10, 16); err != nil || hi < lo {
			return 0, 0, fmt.Errorf("bad range")
		}
	}
	return uint16(lo), uint16(hi), nil
}

func coalesce(bs []portmap.Binding) []portmap.Binding {
	sort.Slice(bs, func(i, j int) bool {
		a, b := bs[i], bs[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.HostIP != b.HostIP {
			return a.HostIP.Less(b.HostIP)
		}
		return a.ContainerPort < b.ContainerPort
	})
	var out []portmap.Binding
	for _, b := range bs {
		if k := len(out) - 1; k >= 0 {
			last := &out[k]
			if last.Proto == b.Proto && last.HostIP == b.HostIP && b.HostPort != 0 &&
				last.HostPortEnd != 0 && b.HostPort == b.HostPortEnd && last.ContainerPortEnd-last.ContainerPort == last.HostPortEnd-last.HostPort &&
				b.ContainerPort == last.ContainerPortEnd+1 && b.HostPort == last.HostPortEnd+1 {
				last.ContainerPortEnd, last.HostPortEnd = b.ContainerPort, b.HostPort
				continue
			}
		}
		out = append(out, b)
	}
	return out
}

func bindingOf(p container.PortBinding, hip netip.Addr) portmap.Binding {
	return portmap.Binding{
		Proto: p.Proto, HostIP: hip, HostPort: p.HostPort, HostPortEnd: p.HostPortEnd,
		ContainerPort: p.ContainerPort, ContainerPortEnd: p.ContainerEnd,
	}
}
