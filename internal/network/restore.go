package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/berth-project/berth/internal/network/firewall"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/network/netns"
	"github.com/berth-project/berth/internal/store"
	"github.com/vishvananda/netlink"
)

// restore programs the kernel for every recorded network and rebuilds
// address allocations, names and port maps from the live endpoints only.
func (m *Manager) restore(ctx context.Context, live []LiveEndpoint) error {
	if err := firewall.EnableForwarding(false); err != nil {
		return fmt.Errorf("enable forwarding: %w", err)
	}
	if err := m.fw.Init(ctx); err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	if err := m.fw.AllowInDockerUser(ctx, userBridgePrefix+"+"); err != nil {
		m.log.Warn("accept berth's bridges in DOCKER-USER", "err", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.store.Each(store.Networks, func(key string, data []byte) error {
		var rec Record
		if err := json.Unmarshal(data, &rec); err != nil {
			m.log.Error("skipping unreadable network record", "id", key, "err", err)
			return nil
		}
		n, err := newNetState(rec)
		if err != nil {
			m.log.Error("skipping network with invalid pools", "network", rec.Name, "err", err)
			return nil
		}
		m.nets[rec.ID] = n
		return nil
	})
	if err != nil {
		return err
	}
	if err := m.ensureDefaultLocked(ctx); err != nil {
		return err
	}
	for _, n := range m.nets {
		if err := m.program(ctx, n); err != nil {
			return err
		}
	}
	keep := map[string]bool{}
	var maps []firewall.PortMapping
	for _, l := range live {
		keep[l.Endpoint.HostIfName] = true
		if _, done := m.held[l.ContainerID]; done {
			l.Ports = nil // a container's ports belong to its first endpoint only
		}
		maps = append(maps, m.restoreEndpointLocked(l)...)
	}
	m.removeStaleVeths(keep)
	m.restorePortsLocked(ctx, maps)
	return nil
}

// restorePortsLocked makes the DNAT maps hold the mappings of the running
// containers and nothing else.
func (m *Manager) restorePortsLocked(ctx context.Context, maps []firewall.PortMapping) {
	m.enableRouteLocalnet(maps)
	err := m.fw.SyncPorts(ctx, maps)
	if err == nil {
		return
	}
	// Mappings that cannot all be installed together (two containers
	// recorded with one host port): keep what can be kept.
	m.log.Warn("restore port maps", "err", err)
	for _, pm := range maps {
		if err := m.fw.AddPorts(ctx, []firewall.PortMapping{pm}); err != nil {
			m.log.Warn("restore port map", "mapping", pm.String(), "err", err)
		}
	}
}

// restoreEndpointLocked re-reserves a live endpoint's addresses and host
// ports, registers its names, and returns its port mappings.
func (m *Manager) restoreEndpointLocked(l LiveEndpoint) []firewall.PortMapping {
	n, ok := m.nets[l.Endpoint.NetworkID]
	if !ok {
		m.log.Warn("endpoint of an unknown network", "container", l.Name, "network", l.Endpoint.NetworkName)
		return nil
	}
	for _, s := range []string{l.Endpoint.IPv4, l.Endpoint.IPv6} {
		if p, err := netip.ParsePrefix(s); err == nil {
			if pool := n.pool(p.Addr().Is6()); pool != nil {
				pool.Reserve(p.Addr())
			}
		}
	}
	m.registerLocked(n, l.ContainerID, l.Name, l.Endpoint)
	if len(l.Ports) == 0 {
		return nil
	}
	m.held[l.ContainerID] = nil
	for _, p := range l.Ports {
		hip, _ := netip.ParseAddr(p.HostIP)
		_, release, err := m.ports.Reserve(bindingOf(p, hip))
		if err != nil {
			m.log.Warn("re-reserve published port", "container", l.Name, "port", p.HostPort, "err", err)
			continue
		}
		m.held[l.ContainerID] = append(m.held[l.ContainerID], release)
	}
	maps, err := mappingsOn(n, l.Endpoint, l.Ports)
	if err != nil {
		m.log.Warn("restore port maps", "container", l.Name, "err", err)
	}
	return maps
}

// ensureDefaultLocked makes sure the predefined "bridge" network exists, on
// the configured device and address, or on the first default pool that
// overlaps nothing on the host.
func (m *Manager) ensureDefaultLocked(ctx context.Context) error {
	var found bool
	for _, n := range m.nets {
		if !n.rec.Default {
			continue
		}
		if !found && m.defaultMatches(n.rec) {
			found = true
			continue
		}
		m.retireDefaultLocked(ctx, n)
	}
	if found {
		return nil
	}
	rec := Record{
		ID: newID(), Name: "bridge", Driver: "bridge", Created: time.Now().UTC(), Bridge: m.cfg.Bridge,
		ICC: true, Masquerade: true, Default: true, Options: map[string]string{}, Labels: map[string]string{},
	}
	if m.cfg.BIP.IsValid() {
		rec.Subnets = []Subnet{{Subnet: m.cfg.BIP.Masked(), Gateway: m.cfg.BIP.Addr()}}
	} else {
		host, err := m.br.HostPrefixes(ctx)
		if err != nil {
			return err
		}
		used := append(m.networkPrefixesLocked(), ipam.FilterHostPrefixes(host)...)
		p, err := ipam.PickSubnet(m.cfg.AddressPools, used)
		if err != nil {
			return err
		}
		first := m.cfg.AddressPools[0].Base
		if p.Addr() != first.Addr() {
			m.log.Info("default bridge network skips address pools already in use on this host", "skipped_from", first, "chosen", p)
		} else {
			m.log.Info("default bridge network", "subnet", p)
		}
		rec.Subnets = []Subnet{{Subnet: p}}
	}
	n, err := newNetState(rec)
	if err != nil {
		return err
	}
	if err := m.store.Put(store.Networks, rec.ID, rec); err != nil {
		return err
	}
	m.nets[rec.ID] = n
	return nil
}

// defaultMatches reports whether rec, a default network, fits --bridge and --bip.
func (m *Manager) defaultMatches(rec Record) bool {
	if rec.Bridge != m.cfg.Bridge || len(rec.Subnets) == 0 {
		return false
	}
	bip := m.cfg.BIP
	return !bip.IsValid() || rec.Subnets[0].Subnet == bip.Masked() && rec.Subnets[0].Gateway == bip.Addr()
}

// retireDefaultLocked forgets a default network made under other --bridge
// or --bip flags: its record, its firewall elements and its gateway
// addresses go, so the bridge does not keep answering on the old subnet.
// The device itself stays, as it may be one the administrator made.
func (m *Manager) retireDefaultLocked(ctx context.Context, n *netState) {
	m.log.Info("default bridge network changed with --bridge or --bip; replacing it",
		"old_bridge", n.rec.Bridge, "old_subnet", n.rec.Subnets, "bridge", m.cfg.Bridge, "bip", m.cfg.BIP)
	delete(m.nets, n.rec.ID)
	errs := []error{
		m.store.Delete(store.Networks, n.rec.ID),
		m.fw.DelNetwork(ctx, n.shortID()),
		m.br.DelAddrs(ctx, n.rec.Bridge, n.gateways()),
	}
	if n.rec.Bridge != m.cfg.Bridge {
		errs = append(errs, m.removeFromDockerUser(ctx, n.rec.Bridge))
	}
	if err := errors.Join(errs...); err != nil {
		m.log.Warn("retire old default network", "err", err)
	}
}

// removeStaleVeths deletes veth ports on berth's bridges that belong to no
// live endpoint (left by a crash between plugging and recording).
func (m *Manager) removeStaleVeths(keep map[string]bool) {
	links, err := netns.LinkList(m.host)
	if err != nil {
		m.log.Warn("list links", "err", err)
		return
	}
	bridges := map[int]bool{}
	for _, l := range links {
		for _, n := range m.nets {
			if l.Attrs().Name == n.rec.Bridge {
				bridges[l.Attrs().Index] = true
			}
		}
	}
	for _, l := range links {
		a := l.Attrs()
		if _, ok := l.(*netlink.Veth); ok && bridges[a.MasterIndex] && !keep[a.Name] {
			m.log.Info("removing stale container port", "link", a.Name)
			m.host.LinkDel(l)
		}
	}
}
