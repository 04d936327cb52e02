// Package network owns berth's networks and endpoints: it keeps the network
// records, and drives the bridge driver, address allocation (ipam), the
// nftables firewall, host-port reservations (portmap) and the embedded DNS
// resolver so that each network operation is one undoable sequence.
package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/dns"
	"github.com/berth-project/berth/internal/network/firewall"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/berth-project/berth/internal/network/netns"
	"github.com/berth-project/berth/internal/network/portmap"
	"github.com/berth-project/berth/internal/store"
	"github.com/vishvananda/netlink"
)

// Config configures the network manager; names are dockerd's flags.
type Config struct {
	Bridge       string       // --bridge: device of the default network (default "berth0")
	BIP          netip.Prefix // --bip: gateway address/prefix of the default network
	AddressPools []ipam.AddressPool
	Table        string // nftables table berth owns (default "berth")
	NetNSDir     string // where container network namespaces are pinned
	ResolvConf   string // host resolv.conf (default /etc/resolv.conf)
	Logger       *slog.Logger

	// DNS (--dns) replaces the upstreams read from ResolvConf.
	DNS []netip.Addr
}

// LiveEndpoint is an endpoint of a running container, given at start-up so
// that allocations, DNS records and port maps are rebuilt from what exists.
type LiveEndpoint struct {
	ContainerID string
	Name        string
	Endpoint    container.Endpoint
	Ports       []container.PortBinding
}

// Manager owns networks and endpoints.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	host  *netlink.Handle
	br    *bridge.Driver
	fw    *firewall.Firewall
	dns   *dns.Server
	ports *portmap.Reserver

	deletes bridgeDeletes // bridges being deleted in the background

	mu   sync.Mutex
	nets map[string]*netState      // by network id
	held map[string][]func() error // per container: host-port releases
}

// New restores networks from st, programs the kernel for them and rebuilds
// allocations from live.
func New(ctx context.Context, cfg Config, st *store.Store, live []LiveEndpoint) (*Manager, error) {
	if cfg.Bridge == "" {
		cfg.Bridge = "berth0"
	}
	if cfg.Table == "" {
		cfg.Table = "berth"
	}
	if len(cfg.AddressPools) == 0 {
		cfg.AddressPools = ipam.DefaultAddressPools()
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if err := os.MkdirAll(cfg.NetNSDir, 0o755); err != nil {
		return nil, err
	}
	if err := portmap.RaiseNoFileLimit(); err != nil {
		cfg.Logger.Warn("raise open-file limit", "err", err)
	}
	host, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	fw, err := firewall.New(firewall.Options{Table: cfg.Table, Logger: cfg.Logger})
	if err != nil {
		host.Close()
		return nil, err
	}
	reserver, err := portmap.NewReserver()
	if err != nil {
		host.Close()
		return nil, err
	}
	m := &Manager{
		cfg: cfg, log: cfg.Logger, store: st, host: host, br: bridge.New(host, cfg.Logger), fw: fw,
		ports: reserver, nets: map[string]*netState{}, held: map[string][]func() error{},
	}
	m.dns = dns.New(dns.Options{Upstreams: m.upstreamAddrPorts(), Logger: cfg.Logger})
	if err := m.restore(ctx, live); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close stops the resolver and releases netlink handles. The kernel state
// stays: running containers keep their network while no daemon runs.
func (m *Manager) Close() error {
	m.deletes.waitAll()
	var errs []error
	if m.dns != nil {
		errs = append(errs, m.dns.Close())
	}
	m.host.Close()
	return errors.Join(errs...)
}

// hostResolv returns the host's resolver configuration with loopback stubs
// replaced by the real upstreams where systemd-resolved publishes them.
func (m *Manager) hostResolv() container.ResolvConf {
	data, _ := os.ReadFile(m.cfg.ResolvConf)
	rc := container.ParseResolvConf(data)
	if len(rc.Upstreams()) == 0 {
		if data, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			real := container.ParseResolvConf(data)
			rc.Nameservers = real.Nameservers
		}
	}
	rc.Nameservers = rc.Upstreams()
	if len(m.cfg.DNS) > 0 {
		rc.Nameservers = m.cfg.DNS
	}
	if len(rc.Nameservers) == 0 {
		rc.Nameservers = []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("8.8.4.4")}
	}
	return rc
}

func (m *Manager) upstreamAddrPorts() []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range m.hostResolv().Nameservers {
		out = append(out, netip.AddrPortFrom(a, 53))
	}
	return out
}

// CreateSandbox makes the container's network namespace (lo up).
func (m *Manager) CreateSandbox(id string) (string, error) {
	path := m.cfg.NetNSDir + "/" + id
	if err := netns.Create(path); err != nil {
		return "", fmt.Errorf("create network namespace: %w", err)
	}
	return path, nil
}

// DeleteSandbox removes a namespace made by CreateSandbox.
func (m *Manager) DeleteSandbox(path string) error { return netns.Delete(path) }
