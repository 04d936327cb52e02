//go:build linux

// Package bridge manages Linux bridges and the veth pairs that connect
// containers to them, over netlink only (no shelling out, no thread
// switching on the hot path).
package bridge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/network/netns"
)

// defaultMTU is used when a config leaves MTU at 0.
const defaultMTU = 1500

// maxIfNameLen is IFNAMSIZ minus the terminating NUL.
const maxIfNameLen = 15

// Driver creates bridges and endpoints in the namespace of its netlink
// handle. It is safe for concurrent use; it never closes the handle.
type Driver struct {
	h   *netlink.Handle
	log *slog.Logger
}

// New returns a driver working through h, the handle of the host namespace
// (tests pass one for a throwaway namespace). A nil logger discards logs.
func New(h *netlink.Handle, logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{h: h, log: logger}
}

// BridgeConfig describes a bridge network's device.
type BridgeConfig struct {
	Name string
	// Gateways holds each gateway address with its subnet's prefix length,
	// IPv4 and/or IPv6, e.g. 172.18.0.1/16.
	Gateways []netip.Prefix
	MTU      int // 0 means 1500
}

// EnsureBridge creates the bridge if missing, adds any missing gateway
// address and sets it up. It is idempotent. If a step fails it undoes what
// this call created (the bridge, or the addresses it added to an existing
// one). A link of that name that is not a bridge is an error, never
// touched.
//
// IPv6 gateways get IFA_F_NODAD so they are usable at once instead of
// after about two seconds of duplicate address detection. Router
// advertisements are not a concern: the kernel ignores them on every
// interface once forwarding is on, which routing containers requires.
func (d *Driver) EnsureBridge(ctx context.Context, cfg BridgeConfig) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bridge %q: %w", cfg.Name, err)
	}
	if err := checkIfName(cfg.Name); err != nil {
		return fmt.Errorf("bridge %q: %w", cfg.Name, err)
	}
	br, created, err := d.ensureBridgeLink(cfg)
	if err != nil {
		return err
	}
	added, err := d.ensureAddrs(br, cfg)
	if err == nil {
		if err = d.h.LinkSetUp(br); err != nil {
			err = fmt.Errorf("bridge %q: set up: %w", cfg.Name, err)
		}
	}
	if err != nil {
		d.rollbackBridge(br, created, added)
		return err
	}
	if created {
		d.log.Debug("bridge created", "bridge", cfg.Name, "gateways", cfg.Gateways)
	}
	return nil
}

// ensureBridgeLink finds or creates the bridge and reports whether it
// created it.
func (d *Driver) ensureBridgeLink(cfg BridgeConfig) (netlink.Link, bool, error) {
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = defaultMTU
	}
	link, err := d.existingBridge(cfg.Name, cfg.MTU)
	if link != nil || err != nil {
		return link, false, err
	}
	mac, err := randomMAC()
	if err != nil {
		return nil, false, fmt.Errorf("bridge %q: %w", cfg.Name, err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = cfg.Name
	la.MTU = mtu
	// A set MAC keeps the bridge from taking its lowest port's address,
	// which would change whenever containers come and go and break
	// neighbours' ARP caches.
	la.HardwareAddr = mac
	br := &netlink.Bridge{LinkAttrs: la}
	if err := d.h.LinkAdd(br); err != nil {
		if !errors.Is(err, unix.EEXIST) {
			return nil, false, fmt.Errorf("bridge %q: create: %w", cfg.Name, err)
		}
		// Created concurrently by someone else: use it, never own it.
		link, err := d.existingBridge(cfg.Name, cfg.MTU)
		if link == nil && err == nil {
			err = fmt.Errorf("bridge %q: create: %w", cfg.Name, unix.EEXIST)
		}
		return link, false, err
	}
	return br, true, nil
}

// existingBridge returns the bridge called name, or nil and no error if
// there is no link of that name. A non-zero mtu is applied; zero leaves an
// existing bridge's MTU alone, as an administrator may have chosen it.
func (d *Driver) existingBridge(name string, mtu int) (netlink.Link, error) {
	link, err := d.lookupBridge(context.Background(), name)
	if link == nil || err != nil {
		return nil, err
	}
	if mtu != 0 && link.Attrs().MTU != mtu {
		if err := d.h.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("bridge %q: set mtu %d: %w", name, mtu, err)
		}
	}
	return link, nil
}

func checkBridge(name string, link netlink.Link) error {
	if t := link.Type(); t != "bridge" {
		return fmt.Errorf("bridge %q: a link of that name exists with type %q, not bridge", name, t)
	}
	return nil
}

// ensureAddrs adds the gateways the bridge lacks and returns those it added.
func (d *Driver) ensureAddrs(br netlink.Link, cfg BridgeConfig) ([]*netlink.Addr, error) {
	existing, err := netns.AddrList(d.h, br, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("bridge %q: %w", cfg.Name, err)
	}
	have := make(map[netip.Prefix]bool, len(existing))
	for _, a := range existing {
		if p, ok := ipNetToPrefix(a.IPNet); ok {
			have[p] = true
		}
	}
	var added []*netlink.Addr
	for _, gw := range withLinkLocal(cfg.Gateways, br.Attrs().HardwareAddr) {
		if !gw.IsValid() {
			return added, fmt.Errorf("bridge %q: invalid gateway %s", cfg.Name, gw)
		}
		if have[gw] {
			continue
		}
		a := newAddr(gw)
		if err := d.h.AddrAdd(br, a); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			return added, fmt.Errorf("bridge %q: add address %s: %w", cfg.Name, gw, err)
		}
		added = append(added, a)
	}
	return added, nil
}

// withLinkLocal adds the bridge's IPv6 link-local address to gateways
// that include an IPv6 one. The kernel would make the same address only
// once the bridge has carrier (its first port) and then run duplicate
// address detection on it for a second or two; until then the host sends
// no neighbour solicitation for packets it forwards into the bridge, so
// the first connections from other machines to a new container over IPv6
// stall. Added up front with IFA_F_NODAD, it is usable at once.
func withLinkLocal(gateways []netip.Prefix, mac net.HardwareAddr) []netip.Prefix {
	if len(mac) != 6 || !slices.ContainsFunc(gateways, func(p netip.Prefix) bool { return p.Addr().Is6() }) {
		return gateways
	}
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15] = mac[0]^0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
	return append(slices.Clone(gateways), netip.PrefixFrom(netip.AddrFrom16(a), 64))
}

// rollbackBridge undoes a failed EnsureBridge. Errors are logged only: the
// caller already reports the error that caused the rollback.
func (d *Driver) rollbackBridge(br netlink.Link, created bool, added []*netlink.Addr) {
	name := br.Attrs().Name
	if created {
		if err := d.h.LinkDel(br); err != nil {
			d.log.Warn("rollback: delete bridge", "bridge", name, "error", err)
		}
		return
	}
	for _, a := range added {
		if err := d.h.AddrDel(br, a); err != nil {
			d.log.Warn("rollback: delete bridge address", "bridge", name, "address", a.IPNet, "error", err)
		}
	}
}

// DeleteBridge deletes the bridge. A missing bridge is not an error; a link
// of that name that is not a bridge is refused.
func (d *Driver) DeleteBridge(ctx context.Context, name string) error {
	link, err := d.lookupBridge(ctx, name)
	if link == nil || err != nil {
		return err
	}
	if err := d.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("bridge %q: delete: %w", name, err)
	}
	d.log.Debug("bridge deleted", "bridge", name)
	return nil
}

// DelAddrs removes addresses from the bridge name; addresses it does not
// have, or a missing bridge, are not errors.
func (d *Driver) DelAddrs(ctx context.Context, name string, addrs []netip.Prefix) error {
	link, err := d.lookupBridge(ctx, name)
	if link == nil || err != nil {
		return err
	}
	var errs []error
	for _, a := range addrs {
		err := d.h.AddrDel(link, newAddr(a))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("bridge %q: delete address %s: %w", name, a, err))
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

func checkIfName(name string) error {
	if name == "" || len(name) > maxIfNameLen {
		return fmt.Errorf("invalid interface name %q: need 1 to %d bytes", name, maxIfNameLen)
	}
	return nil
}

// randomMAC returns a random locally administered unicast address.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("random mac: %w", err)
	}
	mac[0] = mac[0]&^0x01 | 0x02
	return mac, nil
}

// newAddr builds a netlink address; IPv6 ones skip duplicate address
// detection so they can be used immediately.
func newAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: prefixToIPNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}

// ipNetToPrefix converts keeping host bits, so an interface address stays
// an address.
func ipNetToPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 32 {
		a = a.Unmap()
	}
	if bits == 0 || bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

// lookupBridge looks up the bridge name: nil without an error when it is
// missing, an error when the link is not a bridge.
func (d *Driver) lookupBridge(ctx context.Context, name string) (netlink.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bridge %q: %w", name, err)
	}
	link, err := d.h.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("bridge %q: look up: %w", name, err)
	}
	if err := checkBridge(name, link); err != nil {
		return nil, err
	}
	return link, nil
}
