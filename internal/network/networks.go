package network

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewall"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/store"
	mobynet "github.com/moby/moby/api/types/network"
)

// CreateRequest is a decoded POST /networks/create.
type CreateRequest = mobynet.CreateRequest

// Create makes a user-defined network: records it and programs the bridge,
// firewall and resolver in one undoable sequence.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if req.Name == "" {
		return "", errdefs.Invalidf("network name cannot be empty")
	}
	if isPredefined(req.Name) || m.byNameLocked(req.Name) != nil {
		return "", errdefs.Conflictf("network with name %s already exists", req.Name)
	}
	rec, err := m.recordFromRequest(ctx, req)
	if err != nil {
		return "", err
	}
	if err := m.checkBridgeLocked(&rec); err != nil {
		return "", err
	}
	n, err := newNetState(rec)
	if err != nil {
		return "", errdefs.AsInvalid(err)
	}
	if err := m.program(ctx, n); err != nil {
		return "", err
	}
	if err := m.store.Put(store.Networks, rec.ID, rec); err != nil {
		m.unprogram(ctx, n)
		return "", fmt.Errorf("network %s: persist: %w", rec.Name, err)
	}
	m.nets[rec.ID] = n
	return rec.ID, nil
}

// checkBridgeLocked refuses a bridge device another network uses, as
// Docker does, and marks a bridge that exists already (an administrator's)
// as adopted so that removing the network leaves the device alone.
func (m *Manager) checkBridgeLocked(rec *Record) error {
	for _, o := range m.nets {
		if o.rec.Bridge == rec.Bridge {
			return errdefs.Forbiddenf("cannot create network %s (%s): conflicts with network %s (%s): networks have same bridge name",
				rec.Name, rec.Bridge, o.rec.Name, o.rec.Bridge)
		}
	}
	if _, err := m.host.LinkByName(rec.Bridge); err == nil {
		rec.AdoptedBridge = true
	}
	return nil
}

func newNetState(rec Record) (*netState, error) {
	n := &netState{rec: rec, endpoints: map[string]endpointInfo{}}
	for _, s := range rec.Subnets {
		p, err := ipam.NewPool(s.Subnet, s.IPRange, s.Gateway, s.Aux)
		if err != nil {
			return nil, err
		}
		n.pools = append(n.pools, p)
	}
	return n, nil
}

func (m *Manager) recordFromRequest(ctx context.Context, req CreateRequest) (Record, error) {
	if req.Driver != "" && req.Driver != "bridge" {
		return Record{}, errdefs.NotFoundf("plugin %q not found", req.Driver)
	}
	id := newID()
	rec := Record{
		ID: id, Name: req.Name, Driver: "bridge", Created: time.Now().UTC(), Internal: req.Internal,
		Attachable: req.Attachable, Labels: req.Labels, Options: req.Options,
		EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6,
		Bridge:     userBridgePrefix + id[:12], ICC: true, Masquerade: !req.Internal,
	}
	if err := applyOptions(&rec, req.Options); err != nil {
		return Record{}, err
	}
	if err := validateIPAM(req.IPAM); err != nil {
		return Record{}, err
	}
	if req.IPAM != nil {
		for _, c := range req.IPAM.Config {
			rec.Subnets = append(rec.Subnets, Subnet{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, Aux: c.AuxAddress})
		}
	}
	if err := m.assignSubnets(ctx, &rec); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// validateIPAM checks the requested subnets, ranges, gateways and aux
// addresses the way dockerd does (api/types/network.ValidateIPAM), so that
// every mistake is reported at once, in Docker's words.
func validateIPAM(ipam *mobynet.IPAM) error {
	if ipam == nil {
		return nil
	}
	var errs []string
	for _, c := range ipam.Config {
		s := c.Subnet
		if !s.IsValid() {
			errs = append(errs, fmt.Sprintf("invalid subnet %s: invalid CIDR block notation", prefixText(s)))
			continue
		}
		if s != s.Masked() {
			errs = append(errs, fmt.Sprintf("invalid subnet %s: it should be %s", s, s.Masked()))
		}
		errs = append(errs, validateIPRange(c.IPRange, s)...)
		if err := validateAddress(c.Gateway, s); err != "" {
			errs = append(errs, fmt.Sprintf("invalid gateway %s: %s", c.Gateway, err))
		}
		names := make([]string, 0, len(c.AuxAddress))
		for name := range c.AuxAddress {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if err := validateAddress(c.AuxAddress[name], s); err != "" {
				errs = append(errs, fmt.Sprintf("invalid auxiliary address %s: %s", name, err))
			}
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errdefs.Invalidf("invalid network config:\n%s", errs[0])
	}
	return errdefs.Invalidf("invalid network config:\n* %s", strings.Join(errs, "\n* "))
}

// prefixText prints a missing prefix as nothing, as Docker does.
func prefixText(p netip.Prefix) string {
	if p == (netip.Prefix{}) {
		return ""
	}
	return p.String()
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func validateIPRange(r, subnet netip.Prefix) []string {
	if r == (netip.Prefix{}) {
		return nil
	}
	if !r.IsValid() {
		return []string{fmt.Sprintf("invalid ip-range %s: invalid CIDR block notation", prefixText(r))}
	}
	if r.Addr().Is4() != subnet.Addr().Is4() {
		return []string{fmt.Sprintf("invalid ip-range %s: parent subnet is an %s block", r, family(subnet.Addr()))}
	}
	var errs []string
	if r.Bits() < subnet.Bits() {
		errs = append(errs, fmt.Sprintf("invalid ip-range %s: CIDR block is bigger than its parent subnet %s", r, subnet))
	}
	if r != r.Masked() {
		errs = append(errs, fmt.Sprintf("invalid ip-range %s: it should be %s", r, r.Masked()))
	}
	if !subnet.Masked().Overlaps(r.Masked()) {
		errs = append(errs, fmt.Sprintf("invalid ip-range %s: parent subnet %s doesn't contain ip-range", r, subnet))
	}
	return errs
}

// validateAddress returns why a is not a usable address of subnet, or "".
func validateAddress(a netip.Addr, subnet netip.Prefix) string {
	switch {
	case !a.IsValid():
		return ""
	case a.Is4() != subnet.Addr().Is4():
		return fmt.Sprintf("parent subnet is an %s block", family(subnet.Addr()))
	case !subnet.Masked().Contains(a):
		return fmt.Sprintf("parent subnet %s doesn't contain this address", subnet)
	}
	return ""
}

func applyOptions(rec *Record, opts map[string]string) error {
	for k, v := range opts {
		var err error
		switch k {
		case optBridgeName:
			if len(v) == 0 || len(v) > 15 {
				return errdefs.Invalidf("invalid bridge name %q: must be 1 to 15 characters", v)
			}
			rec.Bridge = v
		case optICC:
			rec.ICC, err = strconv.ParseBool(v)
		case optMasquerade:
			rec.Masquerade, err = strconv.ParseBool(v)
			rec.Masquerade = rec.Masquerade && !rec.Internal
		case optMTU:
			rec.MTU, err = strconv.Atoi(v)
			if err == nil && (rec.MTU < 68 || rec.MTU > 65535) {
				err = fmt.Errorf("out of range")
			}
		}
		if err != nil {
			return errdefs.Invalidf("invalid value %q for option %s: %v", v, k, err)
		}
	}
	return nil
}

// assignSubnets checks given subnets for overlap and picks a free pool when
// no IPv4 subnet is given (and a ULA /64 when IPv6 is on without one).
func (m *Manager) assignSubnets(ctx context.Context, rec *Record) error {
	used := m.networkPrefixesLocked()
	has4, has6 := false, false
	for _, s := range rec.Subnets {
		if !s.Subnet.IsValid() || s.Subnet != s.Subnet.Masked() {
			return errdefs.Invalidf("invalid subnet %s: it should be %s", s.Subnet, s.Subnet.Masked())
		}
		for _, u := range m.networkPrefixesLocked() {
			if ipam.Overlaps(s.Subnet, u) {
				return errdefs.Invalidf("invalid pool request: Pool overlaps with other one on this address space")
			}
		}
		has4 = has4 || s.Subnet.Addr().Is4()
		has6 = has6 || s.Subnet.Addr().Is6()
	}
	if has6 && !rec.EnableIPv6 {
		rec.EnableIPv6 = true
	}
	if !has4 {
		host, err := m.br.HostPrefixes(ctx)
		if err != nil {
			return err
		}
		p, err := ipam.PickSubnet(m.cfg.AddressPools, append(used, ipam.FilterHostPrefixes(host)...))
		if err != nil {
			return errdefs.Forbiddenf("%v", err)
		}
		rec.Subnets = append([]Subnet{{Subnet: p}}, rec.Subnets...)
	}
	if rec.EnableIPv6 && !has6 {
		rec.Subnets = append(rec.Subnets, Subnet{Subnet: ulaFor(rec.ID)})
	}
	return nil
}

// ulaFor derives a unique-local /64 from the network id.
func ulaFor(id string) netip.Prefix {
	sum := sha256.Sum256([]byte(id))
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:8], sum[:7])
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

func (m *Manager) networkPrefixesLocked() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range m.nets {
		for _, s := range n.rec.Subnets {
			out = append(out, s.Subnet)
		}
	}
	return out
}

// program creates the network's kernel objects; on failure it undoes them.
func (m *Manager) program(ctx context.Context, n *netState) (err error) {
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err = m.deletes.wait(ctx); err != nil {
		return err
	}
	if err = m.br.EnsureBridge(ctx, bridgeConfig(n)); err != nil {
		return fmt.Errorf("network %s: %w", n.rec.Name, err)
	}
	undo = append(undo, func() { m.delBridge(context.Background(), n) })
	if !n.rec.ICC {
		// Traffic between ports of one bridge only meets the firewall through br_netfilter.
		if err = firewall.EnableBridgeNetfilter(n.rec.EnableIPv6); err != nil {
			return fmt.Errorf("network %s: icc=false needs br_netfilter: %w", n.rec.Name, err)
		}
	}
	if n.rec.EnableIPv6 {
		// Containers' IPv6 traffic, outbound and to published ports, is routed.
		if err = firewall.EnableForwarding(true); err != nil {
			return fmt.Errorf("network %s: %w", n.rec.Name, err)
		}
	}
	if err = m.fw.AddNetwork(ctx, fwNetwork(n)); err != nil {
		return fmt.Errorf("network %s: firewall: %w", n.rec.Name, err)
	}
	undo = append(undo, func() { m.fw.DelNetwork(context.Background(), n.shortID()) })
	if !ownPrefix(n.rec.Bridge) {
		if err = m.fw.AllowInDockerUser(ctx, n.rec.Bridge); err != nil {
			m.log.Warn("accept berth bridge in DOCKER-USER", "bridge", n.rec.Bridge, "err", err)
			err = nil
		}
		undo = append(undo, func() { m.fw.RemoveFromDockerUser(context.Background(), n.rec.Bridge) })
	}
	if !n.rec.Default {
		var gws []netip.Addr
		for _, g := range n.gateways() {
			gws = append(gws, g.Addr())
		}
		if err = m.dns.AddNetwork(ctx, n.shortID(), gws, n.rec.Internal); err != nil {
			return fmt.Errorf("network %s: resolver: %w", n.rec.Name, err)
		}
	}
	return nil
}

// unprogram removes the network's kernel objects, keeping on past failures.
func (m *Manager) unprogram(ctx context.Context, n *netState) error {
	var errs []error
	if !n.rec.Default {
		errs = append(errs, m.dns.DelNetwork(n.shortID()))
	}
	if n.rec.AdoptedBridge {
		errs = append(errs, m.removeFromDockerUser(ctx, n.rec.Bridge))
		errs = append(errs, m.fw.DelNetwork(ctx, n.shortID()))
		errs = append(errs, m.delBridge(ctx, n))
		return errors.Join(errs...)
	}
	// The subnet is free at once. The kernel takes tens of milliseconds to
	// delete set elements (an RCU grace period) and to unregister a device;
	// the network has no endpoints left, so that work goes to the background.
	errs = append(errs, m.br.DelAddrs(ctx, n.rec.Bridge, n.gateways()))
	name, id := n.rec.Bridge, n.shortID()
	m.deletes.start(name, func() {
		bg := context.Background()
		if err := errors.Join(m.removeFromDockerUser(bg, name), m.fw.DelNetwork(bg, id), m.br.DeleteBridge(bg, name)); err != nil {
			m.log.Warn("remove network", "bridge", name, "err", err)
		}
	})
	return errors.Join(errs...)
}

// delBridge deletes the network's bridge, or only its gateway addresses
// when the bridge was there before the network.
func (m *Manager) delBridge(ctx context.Context, n *netState) error {
	if n.rec.AdoptedBridge {
		return m.br.DelAddrs(ctx, n.rec.Bridge, n.gateways())
	}
	return m.br.DeleteBridge(ctx, n.rec.Bridge)
}

func bridgeConfig(n *netState) bridge.BridgeConfig {
	// Only an MTU the user asked for: an adopted bridge keeps the one its
	// administrator chose, and a new one gets the driver's default.
	return bridge.BridgeConfig{Name: n.rec.Bridge, Gateways: n.gateways(), MTU: n.rec.MTU}
}

func fwNetwork(n *netState) firewall.Network {
	var subnets []netip.Prefix
	for _, s := range n.rec.Subnets {
		subnets = append(subnets, s.Subnet)
	}
	return firewall.Network{
		ID: n.shortID(), Bridge: n.rec.Bridge, Subnets: subnets,
		Internal: n.rec.Internal, ICC: n.rec.ICC, Masquerade: n.rec.Masquerade && !n.rec.Internal,
	}
}

// Remove deletes a user-defined network without endpoints.
func (m *Manager) Remove(ctx context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if isPredefined(ref) {
		return errdefs.Forbiddenf("%s is a pre-defined network and cannot be removed", ref)
	}
	n, err := m.getLocked(ref)
	if err != nil {
		return err
	}
	if n.rec.Default {
		return errdefs.Forbiddenf("%s is a pre-defined network and cannot be removed", n.rec.Name)
	}
	if len(n.endpoints) > 0 {
		var names []string
		for _, info := range n.endpoints {
			names = append(names, info.name)
		}
		sort.Strings(names)
		return errdefs.Conflictf("error while removing network: network %s has active endpoints (%s)", n.rec.Name, strings.Join(names, ", "))
	}
	if err := m.unprogram(ctx, n); err != nil {
		m.log.Warn("remove network", "network", n.rec.Name, "err", err)
	}
	delete(m.nets, n.rec.ID)
	return m.store.Delete(store.Networks, n.rec.ID)
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// userBridgePrefix names the bridges of user-defined networks ("bt-" and
// 12 id characters), unlike Docker's "br-": a person can tell berth's
// bridges from Docker's on one host, and one wildcard rule in Docker's
// DOCKER-USER chain covers them all, so creating a network runs no iptables.
const userBridgePrefix = "bt-"

func ownPrefix(bridge string) bool { return strings.HasPrefix(bridge, userBridgePrefix) }

// removeFromDockerUser drops a bridge's own DOCKER-USER rules; bridges
// under the wildcard have none.
func (m *Manager) removeFromDockerUser(ctx context.Context, bridge string) error {
	if ownPrefix(bridge) {
		return nil
	}
	return m.fw.RemoveFromDockerUser(ctx, bridge)
}
