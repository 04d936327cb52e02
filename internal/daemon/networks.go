package daemon

import (
	"context"
	"strings"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network"
	"github.com/moby/moby/api/types/events"
	mobynet "github.com/moby/moby/api/types/network"
)

// Networks returns the network manager (read-only views for the API).
func (d *Daemon) Networks() *network.Manager { return d.net }

// CreateNetwork creates a user-defined network.
func (d *Daemon) CreateNetwork(ctx context.Context, req mobynet.CreateRequest) (string, error) {
	id, err := d.net.Create(ctx, req)
	if err == nil {
		d.emit(events.NetworkEventType, events.ActionCreate, id, map[string]string{"name": req.Name, "type": "bridge"})
	}
	return id, err
}

// RemoveNetwork removes a network without endpoints.
func (d *Daemon) RemoveNetwork(ctx context.Context, ref string) error {
	n, err := d.net.Inspect(ref)
	if err != nil {
		return err
	}
	if err := d.net.Remove(ctx, ref); err != nil {
		return err
	}
	d.emit(events.NetworkEventType, events.ActionDestroy, n.ID, map[string]string{"name": n.Name, "type": "bridge"})
	return nil
}

// PruneNetworks removes user-defined networks without endpoints.
func (d *Daemon) PruneNetworks(ctx context.Context, f map[string][]string) []string {
	deleted := []string{}
	for _, n := range d.net.List() {
		if n.Driver != "bridge" || n.Options["com.docker.network.bridge.default_bridge"] == "true" || len(n.Containers) > 0 || !MatchNetwork(n, f) {
			continue
		}
		if d.RemoveNetwork(ctx, n.ID) == nil {
			deleted = append(deleted, n.Name)
		}
	}
	return deleted
}

// MatchNetwork applies Docker's network filters (name, id, driver, label, type).
func MatchNetwork(n mobynet.Inspect, f map[string][]string) bool {
	check := func(key string, ok func(string) bool) bool {
		if len(f[key]) == 0 {
			return true
		}
		for _, v := range f[key] {
			if ok(v) {
				return true
			}
		}
		return false
	}
	builtin := n.Name == "bridge" || n.Name == "host" || n.Name == "none"
	return check("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		check("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		check("driver", func(v string) bool { return n.Driver == v }) &&
		check("label", func(v string) bool {
			k, val, has := strings.Cut(v, "=")
			got, ok := n.Labels[k]
			return ok && (!has || got == val)
		}) &&
		check("type", func(v string) bool { return (v == "builtin") == builtin })
}

// networkingCreateError turns "not found" into "invalid parameter" for a
// container create: the docker CLI answers a 404 there by pulling the image,
// which would bury "network nosuch not found" under a pull error.
func networkingCreateError(err error) error {
	if errdefs.Is(err, errdefs.NotFound) {
		return errdefs.AsInvalid(err)
	}
	return err
}

// ConnectNetwork attaches a container to a network; a running container
// gets its new interface at once.
func (d *Daemon) ConnectNetwork(ctx context.Context, netRef, ref string, es *mobynet.EndpointSettings) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	name, err := d.net.Name(netRef)
	if err != nil {
		return err
	}
	if es == nil {
		es = &mobynet.EndpointSettings{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	mode := networkMode(c.rec)
	if mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:") || name == "host" || name == "none" {
		return errdefs.Forbiddenf("container %s: cannot connect to network %s: container sharing a network namespace or in network mode %s", c.rec.Name, name, mode)
	}
	if _, ok := c.rec.NetworkConfig[name]; ok {
		return errdefs.Forbiddenf("endpoint with name %s already exists in network %s", c.rec.Name, name)
	}
	if c.rec.State.Status == container.Running {
		var undo undoStack
		if err := d.connectLocked(ctx, c, name, es, &undo); err != nil {
			return err
		}
		if err := d.writeEtcFiles(c); err != nil {
			d.log.Warn("rewrite /etc files", "container", c.rec.Name, "err", err)
		}
	}
	if c.rec.NetworkConfig == nil {
		c.rec.NetworkConfig = map[string]*mobynet.EndpointSettings{}
	}
	c.rec.NetworkConfig[name] = es
	d.save(c)
	d.emit(events.NetworkEventType, events.ActionConnect, name, map[string]string{"container": c.rec.ID, "name": name})
	return nil
}

// DisconnectNetwork detaches a container from a network at once.
func (d *Daemon) DisconnectNetwork(ctx context.Context, netRef, ref string, force bool) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	name, err := d.net.Name(netRef)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rec.NetworkConfig[name]; !ok {
		return errdefs.Forbiddenf("container %s is not connected to network %s", c.rec.Name, name)
	}
	for i, ep := range c.rec.Endpoints {
		if ep.NetworkName != name {
			continue
		}
		if i == 0 && len(c.rec.Ports) > 0 {
			d.net.Unpublish(ctx, c.rec.ID, ep, c.rec.Ports)
			c.rec.Ports = nil
		}
		if err := d.net.Disconnect(ctx, c.rec.ID, ep); err != nil {
			return err
		}
		c.rec.Endpoints = removeEndpoint(c.rec.Endpoints, ep.NetworkID)
		break
	}
	delete(c.rec.NetworkConfig, name)
	// NetworkMode keeps naming the network, as in Docker: a later connect
	// brings the container back onto it.
	d.save(c)
	d.emit(events.NetworkEventType, events.ActionDisconnect, name, map[string]string{"container": c.rec.ID, "name": name})
	return nil
}
