//go:build linux

package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/network/netns"
)

// EndpointConfig describes one container interface on a bridge.
type EndpointConfig struct {
	Bridge      string
	HostIfName  string // host end, at most 15 bytes, chosen by the caller
	HostIfAlias string // ifalias of the host end, so `ip link` tells whose port it is
	NetNSPath   string // pinned container namespace
	IfName      string // name inside the container, e.g. "eth0"
	Addresses   []netip.Prefix
	Gateway4    netip.Addr // default route via this when valid and DefaultRoute
	Gateway6    netip.Addr
	// DefaultRoute is false for a container's secondary networks.
	DefaultRoute bool
	MAC          net.HardwareAddr // container side; nil lets the kernel pick
	MTU          int              // 0 means 1500
}

// AddEndpoint creates a veth pair whose container end is born inside the
// container namespace, attaches the host end to the bridge and configures
// the container end: MAC, addresses, up, default routes. On any failure it
// deletes the pair, so nothing is left behind.
//
// The container end is created under a random temporary name and renamed
// inside the namespace, so the name can never clash in the host namespace
// nor with a half-made interface of another container. All work goes
// through two netlink sockets, one per namespace, with no thread switching
// beyond opening the second socket.
func (d *Driver) AddEndpoint(ctx context.Context, cfg EndpointConfig) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("endpoint %q: %w", cfg.HostIfName, err)
	}
	if err := checkEndpoint(cfg); err != nil {
		return fmt.Errorf("endpoint %q: %w", cfg.HostIfName, err)
	}
	br, err := d.h.LinkByName(cfg.Bridge)
	if err != nil {
		return fmt.Errorf("endpoint %q: find bridge %q: %w", cfg.HostIfName, cfg.Bridge, err)
	}
	if err := checkBridge(cfg.Bridge, br); err != nil {
		return fmt.Errorf("endpoint %q: %w", cfg.HostIfName, err)
	}
	nsfd, err := unix.Open(cfg.NetNSPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("endpoint %q: open namespace %q: %w", cfg.HostIfName, cfg.NetNSPath, err)
	}
	defer unix.Close(nsfd)
	ch, err := netns.NewHandle(cfg.NetNSPath)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", cfg.HostIfName, err)
	}
	defer ch.Close()

	tmpName, err := tempIfName()
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", cfg.HostIfName, err)
	}
	veth := newVeth(cfg, tmpName, nsfd)
	if err := d.h.LinkAdd(veth); err != nil {
		// Nothing was created; on EEXIST the existing link is not ours.
		return fmt.Errorf("endpoint %q: create veth: %w", cfg.HostIfName, err)
	}
	defer func() {
		if err != nil {
			d.rollbackEndpoint(cfg.HostIfName, veth.Index)
		}
	}()
	// The kernel ignores IFLA_IFALIAS when creating a link.
	if cfg.HostIfAlias != "" {
		if err := d.h.LinkSetAlias(veth, cfg.HostIfAlias); err != nil {
			return fmt.Errorf("endpoint %q: set alias: %w", cfg.HostIfName, err)
		}
	}
	if err := d.h.LinkSetMasterByIndex(veth, br.Attrs().Index); err != nil {
		return fmt.Errorf("endpoint %q: attach to bridge %q: %w", cfg.HostIfName, cfg.Bridge, err)
	}
	// Hairpin lets a container reach its own published port through the
	// host address when bridged traffic passes netfilter.
	if err := d.h.LinkSetHairpin(veth, true); err != nil {
		return fmt.Errorf("endpoint %q: hairpin: %w", cfg.HostIfName, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("endpoint %q: %w", cfg.HostIfName, err)
	}
	if err := configureInside(ch, cfg, tmpName); err != nil {
		return fmt.Errorf("endpoint %q: %w", cfg.HostIfName, err)
	}
	d.syncCarrier(veth.Index, br.Attrs().Index)
	d.log.Debug("endpoint added", "endpoint", cfg.HostIfName, "bridge", cfg.Bridge, "addresses", cfg.Addresses)
	return nil
}

func checkEndpoint(cfg EndpointConfig) error {
	if err := checkIfName(cfg.HostIfName); err != nil {
		return fmt.Errorf("host interface: %w", err)
	}
	if err := checkIfName(cfg.IfName); err != nil {
		return fmt.Errorf("container interface: %w", err)
	}
	if cfg.NetNSPath == "" {
		return errors.New("no namespace path")
	}
	for _, p := range cfg.Addresses {
		if !p.IsValid() {
			return fmt.Errorf("invalid address %s", p)
		}
	}
	return nil
}

// newVeth describes the pair: the host end comes up at once,
// the peer is created directly in the namespace open as nsfd.
func newVeth(cfg EndpointConfig, peerName string, nsfd int) *netlink.Veth {
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = defaultMTU
	}
	la := netlink.NewLinkAttrs()
	la.Name = cfg.HostIfName
	la.MTU = mtu
	la.Flags = net.FlagUp
	return &netlink.Veth{
		LinkAttrs:        la,
		PeerName:         peerName,
		PeerHardwareAddr: cfg.MAC,
		PeerNamespace:    netlink.NsFd(nsfd),
		PeerTxQLen:       -1,
		PeerMTU:          uint32(mtu),
	}
}

// tempIfName returns a random name for the container end until it is
// renamed inside its namespace.
func tempIfName() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("temporary interface name: %w", err)
	}
	return "bt" + hex.EncodeToString(b[:]), nil
}

// configureInside renames, addresses and raises the container end, then
// adds the default routes, all through the container namespace's handle.
func configureInside(ch *netlink.Handle, cfg EndpointConfig, tmpName string) error {
	link, err := ch.LinkByName(tmpName)
	if err != nil {
		return fmt.Errorf("find container end %q: %w", tmpName, err)
	}
	if err := ch.LinkSetName(link, cfg.IfName); err != nil {
		return fmt.Errorf("rename %q to %q: %w", tmpName, cfg.IfName, err)
	}
	for _, p := range cfg.Addresses {
		if err := ch.AddrAdd(link, newAddr(p)); err != nil {
			return fmt.Errorf("%s: add address %s: %w", cfg.IfName, p, err)
		}
	}
	if err := ch.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s: set up: %w", cfg.IfName, err)
	}
	if !cfg.DefaultRoute {
		return nil
	}
	for _, gw := range []netip.Addr{cfg.Gateway4, cfg.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice()}
		if err := ch.RouteAdd(r); err != nil {
			return fmt.Errorf("%s: add default route via %s: %w", cfg.IfName, gw, err)
		}
	}
	return nil
}

// syncCarrier makes the host end and then the bridge able to transmit
// before AddEndpoint returns. Raising the container end turns the carriers
// on, but the kernel only attaches their queues later, from its linkwatch
// work; until then frames sent through the bridge, the first ARP to the
// container for one, are dropped and retried a second later. Since Linux
// 6.7 RTM_GETLINK on a device runs its pending linkwatch work at once.
// The host end goes first because syncing it is what turns the bridge's
// carrier on. Failures only cost that second, so they are logged.
func (d *Driver) syncCarrier(indexes ...int) {
	for _, idx := range indexes {
		if _, err := d.h.LinkByIndex(idx); err != nil {
			d.log.Debug("sync carrier", "ifindex", idx, "error", err)
		}
	}
}

// rollbackEndpoint deletes the pair a failed AddEndpoint created, by index
// when known so that a link someone else made with the same name in the
// meantime is never touched.
func (d *Driver) rollbackEndpoint(name string, index int) {
	var err error
	if index > 0 {
		err = d.h.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: index}})
	} else {
		err = d.DelEndpoint(context.Background(), name)
	}
	if err != nil && !errors.Is(err, unix.ENODEV) {
		d.log.Warn("rollback: delete veth", "endpoint", name, "error", err)
	}
}

// DelEndpoint deletes the host end of a veth pair, which deletes both ends.
// A missing link is not an error; a link of that name that is not a veth is
// refused.
func (d *Driver) DelEndpoint(ctx context.Context, hostIfName string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("endpoint %q: %w", hostIfName, err)
	}
	link, err := d.h.LinkByName(hostIfName)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("endpoint %q: look up: %w", hostIfName, err)
	}
	if t := link.Type(); t != "veth" {
		return fmt.Errorf("endpoint %q: link has type %q, not veth", hostIfName, t)
	}
	if err := d.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("endpoint %q: delete: %w", hostIfName, err)
	}
	return nil
}

// HostEnds lists the names of links in the host namespace that start with
// prefix, to find endpoints left over after a crash.
func (d *Driver) HostEnds(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	links, err := netns.LinkList(d.h)
	if err != nil {
		return nil, fmt.Errorf("host ends %q: %w", prefix, err)
	}
	var names []string
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	return names, nil
}

// HostPrefixes returns the destinations of the host's main-table routes
// (a default route as 0.0.0.0/0 or ::/0) and its interface addresses with
// their prefix lengths, IPv4 and IPv6, deduplicated, for subnet overlap
// checks. Filter them with ipam.FilterHostPrefixes.
func (d *Driver) HostPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	routes, err := netns.RouteList(d.h, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("host prefixes: %w", err)
	}
	addrs, err := netns.AddrList(d.h, nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("host prefixes: %w", err)
	}
	seen := make(map[netip.Prefix]bool)
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, r := range routes {
		switch {
		case r.Dst != nil:
			if p, ok := ipNetToPrefix(r.Dst); ok {
				add(p.Masked())
			}
		case r.Family == unix.AF_INET:
			add(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
		case r.Family == unix.AF_INET6:
			add(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
		}
	}
	for _, a := range addrs {
		if p, ok := ipNetToPrefix(a.IPNet); ok {
			add(p.Masked())
		}
	}
	return out, nil
}

// MACFromIP derives Docker's container MAC: 02:42 followed by the four
// bytes of the IPv4 address. It returns nil for anything but IPv4 (an
// IPv4-mapped IPv6 address counts as IPv4).
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil
	}
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}
