package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network"
	mobynet "github.com/moby/moby/api/types/network"
)

// networkMode returns the container's mode with Docker's defaults applied.
func networkMode(rec container.Record) string {
	m := string(rec.HostConfig.NetworkMode)
	if m == "" || m == "default" {
		return "bridge"
	}
	return m
}

// validateNetworking checks the networks a new container asks for and
// records its per-network settings.
func (d *Daemon) validateNetworking(rec *container.Record, nc *mobynet.NetworkingConfig) error {
	mode := networkMode(*rec)
	if strings.HasPrefix(mode, "container:") {
		if _, err := d.lookup(strings.TrimPrefix(mode, "container:")); err != nil {
			return err
		}
		if len(rec.HostConfig.PortBindings) > 0 || rec.HostConfig.PublishAllPorts {
			return errdefs.Invalidf("conflicting options: port publishing and the container type network mode")
		}
		return nil
	}
	if err := d.net.Exists(mode); err != nil {
		return err
	}
	if mode == "host" && len(rec.HostConfig.PortBindings) > 0 {
		rec.HostConfig.PortBindings = nil // Docker ignores them with a warning
	}
	rec.NetworkConfig = map[string]*mobynet.EndpointSettings{}
	if nc != nil {
		for name, es := range nc.EndpointsConfig {
			if name == "default" {
				name = "bridge"
			}
			canon, err := d.net.Name(name)
			if err != nil {
				return err
			}
			if es == nil {
				es = &mobynet.EndpointSettings{}
			}
			if len(es.Aliases) > 0 && !d.net.IsUserDefined(canon) {
				return errdefs.Invalidf("network-scoped alias is supported only for containers in user defined networks")
			}
			rec.NetworkConfig[canon] = es
		}
	}
	if canon, err := d.net.Name(mode); err == nil {
		if _, ok := rec.NetworkConfig[canon]; !ok && mode != "host" && mode != "none" {
			rec.NetworkConfig[canon] = &mobynet.EndpointSettings{}
		}
	}
	return nil
}

// attachNetworks prepares the container's network namespace and attaches
// its networks and published ports. It returns the namespace path for the
// OCI spec ("" for the host's). This is the step between "namespaces exist"
// and "process starts".
func (d *Daemon) attachNetworks(ctx context.Context, c *ctr, undo *undoStack) (string, error) {
	mode := networkMode(c.rec)
	c.rec.Endpoints, c.rec.Ports = nil, nil
	switch {
	case mode == "host":
		c.rec.SandboxKey = ""
		return "", nil
	case strings.HasPrefix(mode, "container:"):
		other, err := d.lookup(strings.TrimPrefix(mode, "container:"))
		if err != nil {
			return "", err
		}
		orec, _, _, _ := other.snapshot()
		if orec.State.Status != container.Running || orec.SandboxKey == "" {
			return "", errdefs.Conflictf("cannot join network of a non running container: %s", orec.Name)
		}
		c.rec.SandboxKey = orec.SandboxKey
		return orec.SandboxKey, nil
	}
	path, err := d.net.CreateSandbox(c.rec.ID)
	if err != nil {
		return "", err
	}
	c.rec.SandboxKey = path
	undo.push(func() { d.net.DeleteSandbox(path); c.rec.SandboxKey = "" })
	if mode == "none" {
		return path, nil
	}
	for _, name := range d.networkOrder(c.rec, mode) {
		if err := d.connectLocked(ctx, c, name, c.rec.NetworkConfig[name], undo); err != nil {
			return "", err
		}
	}
	if len(c.rec.Endpoints) > 0 {
		ep := c.rec.Endpoints[0]
		hc := c.rec.HostConfig
		ports, err := d.net.Publish(ctx, c.rec.ID, ep, hc.PortBindings, hc.PublishAllPorts, c.rec.Config.ExposedPorts)
		if err != nil {
			return "", err
		}
		c.rec.Ports = ports
		undo.push(func() { d.net.Unpublish(context.Background(), c.rec.ID, ep, ports); c.rec.Ports = nil })
	}
	return path, nil
}

// networkOrder lists the networks to join: the mode's network first (it
// holds the default route and the published ports), then the others by
// name. A network the container was disconnected from is not joined.
func (d *Daemon) networkOrder(rec container.Record, mode string) []string {
	first, _ := d.net.Name(mode)
	var out, rest []string
	for name := range rec.NetworkConfig {
		if name == first {
			out = append(out, name)
		} else {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func (d *Daemon) connectLocked(ctx context.Context, c *ctr, name string, es *mobynet.EndpointSettings, undo *undoStack) error {
	req := network.ConnectRequest{
		ContainerID: c.rec.ID, ContainerName: c.rec.Name, SandboxKey: c.rec.SandboxKey, Network: name,
		IfName: nextIfName(c.rec.Endpoints), DefaultRoute: len(c.rec.Endpoints) == 0,
	}
	if es != nil {
		req.Aliases = es.Aliases
		if es.IPAMConfig != nil {
			req.IPv4, req.IPv6 = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address
		}
		if len(es.MacAddress) > 0 {
			req.MAC = net.HardwareAddr(es.MacAddress)
		}
	}
	ep, err := d.net.Connect(ctx, req)
	if err != nil {
		return err
	}
	c.rec.Endpoints = append(c.rec.Endpoints, ep)
	undo.push(func() {
		d.net.Disconnect(context.Background(), c.rec.ID, ep)
		c.rec.Endpoints = removeEndpoint(c.rec.Endpoints, ep.NetworkID)
	})
	return nil
}

func nextIfName(eps []container.Endpoint) string {
	used := map[string]bool{}
	for _, ep := range eps {
		used[ep.IfName] = true
	}
	for i := 0; ; i++ {
		if n := fmt.Sprintf("eth%d", i); !used[n] {
			return n
		}
	}
}

func removeEndpoint(eps []container.Endpoint, netID string) []container.Endpoint {
	out := eps[:0:0]
	for _, ep := range eps {
		if ep.NetworkID != netID {
			out = append(out, ep)
		}
	}
	return out
}

// detachNetworks undoes attachNetworks; callers hold c.mu.
func (d *Daemon) detachNetworks(ctx context.Context, c *ctr) error {
	var errs []error
	if len(c.rec.Endpoints) > 0 {
		errs = append(errs, d.net.Unpublish(ctx, c.rec.ID, c.rec.Endpoints[0], c.rec.Ports))
	}
	for _, ep := range c.rec.Endpoints {
		errs = append(errs, d.net.Disconnect(ctx, c.rec.ID, ep))
	}
	mode := networkMode(c.rec)
	if c.rec.SandboxKey != "" && mode != "host" && !strings.HasPrefix(mode, "container:") {
		errs = append(errs, d.net.DeleteSandbox(c.rec.SandboxKey))
	}
	c.rec.Endpoints, c.rec.Ports, c.rec.SandboxKey = nil, nil, ""
	return errors.Join(errs...)
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and /etc/resolv.conf.
func (d *Daemon) writeEtcFiles(c *ctr) error {
	dir := d.dataDir(c.rec.ID)
	cfg, hc := c.rec.Config, c.rec.HostConfig
	hostname := cfg.Hostname
	if cfg.Domainname != "" {
		hostname += "." + cfg.Domainname
	}
	var own []container.HostsEntry
	var gw netip.Addr
	for _, ep := range c.rec.Endpoints {
		if p, err := netip.ParsePrefix(ep.IPv4); err == nil {
			own = append(own, container.HostsEntry{Addr: p.Addr().String(), Names: []string{hostname}})
		}
		if p, err := netip.ParsePrefix(ep.IPv6); err == nil {
			own = append(own, container.HostsEntry{Addr: p.Addr().String(), Names: []string{hostname}})
		}
		if !gw.IsValid() {
			gw, _ = netip.ParseAddr(ep.Gateway4)
		}
	}
	var extra []container.HostsEntry
	for _, h := range hc.ExtraHosts {
		e, err := container.ParseExtraHost(h, gw)
		if err != nil {
			return errdefs.AsInvalid(err)
		}
		extra = append(extra, e)
	}
	hosts := container.HostsFile(own, extra)
	if networkMode(c.rec) == "host" {
		hostData, _ := os.ReadFile("/etc/hosts")
		hosts = append(hostData, container.HostsFile(nil, extra)[len(container.HostsFile(nil, nil)):]...)
	}
	rc := d.net.ResolvConf(c.rec.Endpoints, hc.DNS, hc.DNSSearch, hc.DNSOptions)
	for name, data := range map[string][]byte{"hostname": []byte(hostname + "\n"), "hosts": hosts, "resolv.conf": rc.Render()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
