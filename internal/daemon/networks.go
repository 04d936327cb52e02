package daemon

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

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

// PruneNetworks removes user-defined networks without endpoints that match
// f (Docker's prune filters: label, label!, until).
func (d *Daemon) PruneNetworks(ctx context.Context, f map[string][]string) ([]string, error) {
	match, err := pruneMatcher(f, time.Now())
	if err != nil {
		return nil, err
	}
	deleted := []string{}
	for _, n := range d.net.List() {
		if n.Driver != "bridge" || isBuiltinNetwork(n) || len(n.Containers) > 0 || !match(n) {
			continue
		}
		if d.RemoveNetwork(ctx, n.ID) == nil {
			deleted = append(deleted, n.Name)
		}
	}
	return deleted, nil
}

func isBuiltinNetwork(n mobynet.Inspect) bool {
	return n.Name == "host" || n.Name == "none" || n.Options["com.docker.network.bridge.default_bridge"] == "true"
}

// FilterNetworks applies Docker's `network ls` filters: driver, scope
// (exact), name, id (regular expressions, so plain text matches a part),
// label (all given must match), type (custom or builtin) and dangling.
func FilterNetworks(nets []mobynet.Inspect, f map[string][]string) ([]mobynet.Inspect, error) {
	for k := range f {
		switch k {
		case "dangling", "driver", "id", "label", "name", "scope", "type":
		default:
			return nil, errdefs.Invalidf("invalid filter '%s'", k)
		}
	}
	name, err := regexps(f["name"])
	if err != nil {
		return nil, err
	}
	id, err := regexps(f["id"])
	if err != nil {
		return nil, err
	}
	dangling, err := danglingFilter(f["dangling"])
	if err != nil {
		return nil, err
	}
	for _, v := range f["type"] {
		if v != "custom" && v != "builtin" {
			return nil, errdefs.Invalidf("invalid filter: 'type'='%s'", v)
		}
	}
	out := []mobynet.Inspect{}
	for _, n := range nets {
		builtin := isBuiltinNetwork(n)
		typ := "custom"
		if builtin {
			typ = "builtin"
		}
		if !exact(f["driver"], n.Driver) || !exact(f["scope"], n.Scope) || !anyMatch(name, n.Name) ||
			!anyMatch(id, n.ID) || !labelsMatch(f["label"], n.Labels) || !exact(f["type"], typ) {
			continue
		}
		if dangling != nil && *dangling != (!builtin && len(n.Containers) == 0) {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// pruneMatcher checks Docker's prune filters and returns the predicate.
func pruneMatcher(f map[string][]string, now time.Time) (func(mobynet.Inspect) bool, error) {
	for k := range f {
		if k != "label" && k != "label!" && k != "until" {
			return nil, errdefs.Invalidf("invalid filter '%s'", k)
		}
	}
	var until time.Time
	switch vs := f["until"]; len(vs) {
	case 0:
	case 1:
		t, err := parseTimestamp(vs[0], now)
		if err != nil {
			return nil, errdefs.Invalidf("invalid filter 'until=%s': %v", vs[0], err)
		}
		until = t
	default:
		return nil, errdefs.Invalidf("more than one until filter specified")
	}
	return func(n mobynet.Inspect) bool {
		if !labelsMatch(f["label"], n.Labels) {
			return false
		}
		if len(f["label!"]) > 0 && labelsMatch(f["label!"], n.Labels) {
			return false
		}
		return until.IsZero() || !n.Created.After(until)
	}, nil
}

// parseTimestamp reads Docker's time filter values: a duration before now
// ("10m"), a Unix time ("1700000000.5") or an RFC 3339 date or time.
func parseTimestamp(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(0, int64(secs*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a duration, a Unix time or an RFC 3339 time")
}

func regexps(vs []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, v := range vs {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, errdefs.Invalidf("invalid filter value %q: %v", v, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	if len(res) == 0 {
		return true
	}
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func exact(vs []string, s string) bool { return len(vs) == 0 || slices.Contains(vs, s) }

// labelsMatch reports whether labels have every "key" and "key=value" of vs.
func labelsMatch(vs []string, labels map[string]string) bool {
	for _, v := range vs {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}

func danglingFilter(vs []string) (*bool, error) {
	switch len(vs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, errdefs.Invalidf(`got more than one value for filter key "dangling"`)
	}
	var b bool
	switch vs[0] {
	case "1", "true":
		b = true
	case "0", "false":
	default:
		return nil, errdefs.Invalidf(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
	}
	return &b, nil
}

// afterDisconnect keeps a running container's remaining networks usable:
// when the endpoint that held the default route went, the next one takes it
// over (as in Docker), and /etc/resolv.conf and /etc/hosts are rewritten so
// that the resolver is one the container can still reach.
func (d *Daemon) afterDisconnect(ctx context.Context, c *ctr, hadDefaultRoute bool) {
	if hadDefaultRoute && len(c.rec.Endpoints) > 0 && c.rec.SandboxKey != "" {
		if err := d.net.SetDefaultRoute(ctx, c.rec.SandboxKey, c.rec.Endpoints[0]); err != nil {
			d.log.Warn("move default route", "container", c.rec.Name, "err", err)
		}
	}
	if err := d.writeEtcFiles(c); err != nil {
		d.log.Warn("rewrite /etc files", "container", c.rec.Name, "err", err)
	}
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
		if c.rec.State.Status == container.Running {
			d.afterDisconnect(ctx, c, i == 0)
		}
		break
	}
	delete(c.rec.NetworkConfig, name)
	// NetworkMode keeps naming the network, as in Docker: a later connect
	// brings the container back onto it.
	d.save(c)
	d.emit(events.NetworkEventType, events.ActionDisconnect, name, map[string]string{"container": c.rec.ID, "name": name})
	return nil
}
