package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/dns"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/network/netns"
	"github.com/vishvananda/netlink"
)

// ConnectRequest attaches one container to one network.
type ConnectRequest struct {
	ContainerID   string
	ContainerName string
	SandboxKey    string
	Network       string
	IfName        string
	Aliases       []string
	IPv4, IPv6    netip.Addr // static addresses, if asked
	MAC           net.HardwareAddr
	DefaultRoute  bool
}

// Connect allocates addresses, plugs a veth pair into the network's bridge
// and registers the container's names; any failure undoes what was done.
func (m *Manager) Connect(ctx context.Context, req ConnectRequest) (ep container.Endpoint, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(req.Network)
	if err != nil {
		return ep, err
	}
	if _, ok := n.endpoints[req.ContainerID]; ok {
		return ep, errdefs.Forbiddenf("endpoint with name %s already exists in network %s", req.ContainerName, n.rec.Name)
	}
	if n.rec.Default && (req.IPv4.IsValid() || req.IPv6.IsValid()) {
		return ep, errdefs.Invalidf("user specified IP address is supported on user defined networks only")
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	ep = container.Endpoint{
		NetworkID: n.rec.ID, NetworkName: n.rec.Name, EndpointID: newID(), IfName: req.IfName,
		HostIfName: hostIfName(req.ContainerID, req.IfName), Aliases: req.Aliases,
	}
	cfg := bridge.EndpointConfig{
		Bridge: n.rec.Bridge, HostIfName: ep.HostIfName, NetNSPath: req.SandboxKey, IfName: req.IfName,
		HostIfAlias:  fmt.Sprintf("%s (%s) on %s", req.ContainerName, container.ShortID(req.ContainerID), n.rec.Name),
		DefaultRoute: req.DefaultRoute && !n.rec.Internal, MTU: n.mtu(),
	}
	for _, v6 := range []bool{false, true} {
		p := n.pool(v6)
		if p == nil {
			continue
		}
		static := req.IPv4
		if v6 {
			static = req.IPv6
		}
		a, aerr := allocate(p, static)
		if aerr != nil {
			return ep, fmt.Errorf("network %s: %w", n.rec.Name, aerr)
		}
		undo = append(undo, func() { p.Release(a) })
		pfx := netip.PrefixFrom(a, p.Subnet().Bits())
		cfg.Addresses = append(cfg.Addresses, pfx)
		if v6 {
			ep.IPv6, ep.Gateway6, cfg.Gateway6 = pfx.String(), p.Gateway().String(), p.Gateway()
		} else {
			ep.IPv4, ep.Gateway4, cfg.Gateway4 = pfx.String(), p.Gateway().String(), p.Gateway()
		}
	}
	if req.MAC != nil {
		cfg.MAC, ep.StaticMAC = req.MAC, req.MAC.String()
	} else if p, e := netip.ParsePrefix(ep.IPv4); e == nil {
		cfg.MAC = bridge.MACFromIP(p.Addr())
	}
	ep.MAC = cfg.MAC.String()
	if req.IPv4.IsValid() {
		ep.StaticIPv4 = req.IPv4.String()
	}
	if req.IPv6.IsValid() {
		ep.StaticIPv6 = req.IPv6.String()
	}
	if err = m.br.AddEndpoint(ctx, cfg); err != nil {
		return ep, fmt.Errorf("network %s: attach container: %w", n.rec.Name, err)
	}
	m.registerLocked(n, req.ContainerID, req.ContainerName, ep)
	return ep, nil
}

func allocate(p *ipam.Pool, static netip.Addr) (netip.Addr, error) {
	if !static.IsValid() {
		a, err := p.Allocate()
		if errors.Is(err, ipam.ErrPoolFull) {
			return a, errdefs.Forbiddenf("no available IPv4 addresses on this network's address pools: %v", err)
		}
		return a, err
	}
	if err := p.Reserve(static); err != nil {
		switch {
		case errors.Is(err, ipam.ErrAddressInUse):
			return static, errdefs.Conflictf("Address already in use: %s", static)
		case errors.Is(err, ipam.ErrOutOfRange):
			return static, errdefs.AsInvalid(err)
		}
		return static, err
	}
	return static, nil
}

// registerLocked records an endpoint and makes its names resolvable.
func (m *Manager) registerLocked(n *netState, cid, name string, ep container.Endpoint) {
	n.endpoints[cid] = endpointInfo{name: name, ep: ep}
	if n.rec.Default {
		return
	}
	rec := dns.Endpoint{ContainerID: cid, Name: name, Aliases: ep.Aliases}
	if p, err := netip.ParsePrefix(ep.IPv4); err == nil {
		rec.IPv4 = p.Addr()
	}
	if p, err := netip.ParsePrefix(ep.IPv6); err == nil {
		rec.IPv6 = p.Addr()
	}
	m.dns.SetEndpoint(n.shortID(), rec)
}

// Disconnect removes the endpoint: names, veth pair, addresses.
func (m *Manager) Disconnect(ctx context.Context, containerID string, ep container.Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	n, ok := m.nets[ep.NetworkID]
	if ok {
		if !n.rec.Default {
			m.dns.DelEndpoint(n.shortID(), containerID)
		}
		delete(n.endpoints, containerID)
		for _, s := range []string{ep.IPv4, ep.IPv6} {
			if p, err := netip.ParsePrefix(s); err == nil {
				if pool := n.pool(p.Addr().Is6()); pool != nil {
					pool.Release(p.Addr())
				}
			}
		}
	}
	if err := m.br.DelEndpoint(ctx, ep.HostIfName); err != nil {
		errs = append(errs, fmt.Errorf("delete veth %s: %w", ep.HostIfName, err))
	}
	return errors.Join(errs...)
}

// SetDefaultRoute makes ep's network the way out of the container at
// sandboxKey: default routes via ep's gateways, replacing any left. The
// daemon calls it when the network that held the default route is
// disconnected from a running container, as Docker moves the gateway to
// another of its networks. Internal networks get no default route.
func (m *Manager) SetDefaultRoute(ctx context.Context, sandboxKey string, ep container.Endpoint) error {
	m.mu.Lock()
	n, ok := m.nets[ep.NetworkID]
	internal := ok && n.rec.Internal
	m.mu.Unlock()
	if !ok || internal {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := netns.NewHandle(sandboxKey)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(ep.IfName)
	if err != nil {
		return fmt.Errorf("default route: find %s: %w", ep.IfName, err)
	}
	var errs []error
	for _, gw := range []string{ep.Gateway4, ep.Gateway6} {
		a, err := netip.ParseAddr(gw)
		if err != nil {
			continue
		}
		dst := &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
		if a.Is6() {
			dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		}
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Gw: a.AsSlice()}
		if err := h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("%s: default route via %s: %w", ep.IfName, a, err))
		}
	}
	return errors.Join(errs...)
}

// hostIfName names the host end after the container ("b-" + 8 id chars +
// the interface index), so `ip link` and `brctl show` say whose port it is.
func hostIfName(cid, ifName string) string {
	idx := ifName
	if len(idx) > 3 && idx[:3] == "eth" {
		idx = idx[3:]
	}
	return "b-" + cid[:8] + "-" + idx
}

// Renamed updates the name a container resolves by.
func (m *Manager) Renamed(containerID, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		if info, ok := n.endpoints[containerID]; ok {
			m.registerLocked(n, containerID, name, info.ep)
		}
	}
}

// ResolvConf returns the resolver configuration for a container on eps:
// on a user-defined network it is the embedded resolver on the network's
// gateway (no per-container listener, so nothing extra on the start path),
// otherwise the host's real upstreams.
func (m *Manager) ResolvConf(eps []container.Endpoint, dnsServers []netip.Addr, search, options []string) container.ResolvConf {
	rc := m.hostResolv()
	m.mu.Lock()
	for _, ep := range eps {
		if n, ok := m.nets[ep.NetworkID]; ok && !n.rec.Default && ep.Gateway4 != "" {
			if gw, err := netip.ParseAddr(ep.Gateway4); err == nil {
				rc.Nameservers = []netip.Addr{gw}
				break
			}
		}
	}
	m.mu.Unlock()
	if len(dnsServers) > 0 {
		rc.Nameservers = dnsServers
	}
	if len(search) > 0 {
		rc.Search = search
	}
	if len(options) > 0 {
		rc.Options = options
	}
	return rc
}
