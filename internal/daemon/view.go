package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/docker/go-units"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
)

// InspectResponse is Docker's container inspect document, with the
// top-level NetworkSettings fields (IPAddress, Gateway, MacAddress, ...)
// that API 1.47 clients and users' scripts still read.
type InspectResponse struct {
	mobycontainer.InspectResponse
	NetworkSettings *NetworkSettings
}

// NetworkSettings adds the legacy summary of the first network.
type NetworkSettings struct {
	mobycontainer.NetworkSettings
	Bridge              string
	Gateway             string
	IPAddress           string
	IPPrefixLen         int
	MacAddress          string
	GlobalIPv6Address   string
	GlobalIPv6PrefixLen int
	IPv6Gateway         string
}

// Inspect returns the Docker-shaped view of a container.
func (d *Daemon) Inspect(ref string) (InspectResponse, error) {
	r, err := d.inspect(ref)
	if err != nil {
		return InspectResponse{}, err
	}
	out := InspectResponse{InspectResponse: r, NetworkSettings: &NetworkSettings{NetworkSettings: *r.NetworkSettings}}
	if es, ok := r.NetworkSettings.Networks["bridge"]; ok || len(r.NetworkSettings.Networks) > 0 {
		if !ok {
			for _, e := range r.NetworkSettings.Networks {
				es = e
				break
			}
		}
		ns := out.NetworkSettings
		if es.IPAddress.IsValid() {
			ns.IPAddress, ns.IPPrefixLen = es.IPAddress.String(), es.IPPrefixLen
		}
		if es.Gateway.IsValid() {
			ns.Gateway = es.Gateway.String()
		}
		if es.GlobalIPv6Address.IsValid() {
			ns.GlobalIPv6Address, ns.GlobalIPv6PrefixLen = es.GlobalIPv6Address.String(), es.GlobalIPv6PrefixLen
		}
		if es.IPv6Gateway.IsValid() {
			ns.IPv6Gateway = es.IPv6Gateway.String()
		}
		ns.MacAddress = es.MacAddress.String()
	}
	return out, nil
}

func (d *Daemon) inspect(ref string) (mobycontainer.InspectResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return mobycontainer.InspectResponse{}, err
	}
	rec, _, _, _ := c.snapshot()
	cfg := rec.Config
	hc := rec.HostConfig
	if hc.NetworkMode == "" {
		hc.NetworkMode = "bridge"
	}
	dd := d.dataDir(rec.ID)
	st := rec.State
	return mobycontainer.InspectResponse{
		ID: rec.ID, Created: rec.Created.Format(time.RFC3339Nano), Path: rec.Path, Args: rec.Args,
		State: &mobycontainer.State{
			Status: mobycontainer.ContainerState(st.Status), Running: st.Status == container.Running,
			Restarting: st.Status == container.Restarting, Dead: st.Status == container.Dead,
			OOMKilled: st.OOMKilled, Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: timeString(st.StartedAt), FinishedAt: timeString(st.FinishedAt),
		},
		Image: rec.ImageID, ResolvConfPath: dd + "/resolv.conf", HostnamePath: dd + "/hostname",
		HostsPath: dd + "/hosts", LogPath: d.logPath(rec.ID), Name: "/" + rec.Name,
		RestartCount: st.RestartCount, Driver: "overlay2", Platform: "linux",
		HostConfig: &hc, Config: &cfg,
		GraphDriver: &storage.DriverData{Name: "overlay2", Data: map[string]string{}},
		Mounts:      []mobycontainer.MountPoint{},
		NetworkSettings: &mobycontainer.NetworkSettings{
			SandboxID: rec.ID, SandboxKey: rec.SandboxKey,
			Ports: portMap(rec), Networks: endpointSettings(rec),
		},
	}, nil
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.Format(time.RFC3339Nano)
}

func endpointSettings(rec container.Record) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	for name, es := range rec.NetworkConfig {
		out[name] = &network.EndpointSettings{IPAMConfig: es.IPAMConfig, Aliases: es.Aliases, DriverOpts: es.DriverOpts}
	}
	for _, ep := range rec.Endpoints {
		es := out[ep.NetworkName]
		if es == nil {
			es = &network.EndpointSettings{}
			out[ep.NetworkName] = es
		}
		es.NetworkID, es.EndpointID, es.Aliases = ep.NetworkID, ep.EndpointID, ep.Aliases
		es.DNSNames = append([]string{rec.Name, container.ShortID(rec.ID)}, ep.Aliases...)
		if p, err := netip.ParsePrefix(ep.IPv4); err == nil {
			es.IPAddress, es.IPPrefixLen = p.Addr(), p.Bits()
		}
		if p, err := netip.ParsePrefix(ep.IPv6); err == nil {
			es.GlobalIPv6Address, es.GlobalIPv6PrefixLen = p.Addr(), p.Bits()
		}
		es.Gateway, _ = netip.ParseAddr(ep.Gateway4)
		es.IPv6Gateway, _ = netip.ParseAddr(ep.Gateway6)
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			es.MacAddress = network.HardwareAddr(mac)
		}
		if es.DriverOpts == nil {
			es.DriverOpts = map[string]string{}
		}
		// Docker does not say which host interface is the container's; berth does.
		es.DriverOpts["berth.host_interface"] = ep.HostIfName
	}
	return out
}

func portMap(rec container.Record) network.PortMap {
	pm := network.PortMap{}
	for p := range rec.Config.ExposedPorts {
		pm[p] = nil
	}
	for _, b := range rec.Ports {
		n := uint32(b.HostPortEnd) - uint32(b.HostPort)
		for i := uint32(0); i <= n; i++ {
			cport := uint32(b.ContainerPort) + i
			if b.ContainerEnd == b.ContainerPort {
				cport = uint32(b.ContainerPort)
			}
			port, _ := network.PortFrom(uint16(cport), network.IPProtocol(b.Proto))
			hip, _ := netip.ParseAddr(b.HostIP)
			if !hip.IsValid() {
				hip = netip.IPv4Unspecified()
			}
			pm[port] = append(pm[port], network.PortBinding{HostIP: hip, HostPort: strconv.Itoa(int(uint32(b.HostPort) + i))})
		}
	}
	return pm
}

// ListOptions are the query of GET /containers/json.
type ListOptions struct {
	All     bool
	Limit   int
	Filters map[string][]string
}

// List returns containers, newest first.
func (d *Daemon) List(opts ListOptions) ([]mobycontainer.Summary, error) {
	var recs []container.Record
	for _, c := range d.all() {
		rec, _, _, removed := c.snapshot()
		if removed {
			continue
		}
		if !opts.All && rec.State.Status != container.Running && len(opts.Filters["status"]) == 0 {
			continue
		}
		if !matchFilters(rec, opts.Filters) {
			continue
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Created.After(recs[j].Created) })
	if opts.Limit > 0 && len(recs) > opts.Limit {
		recs = recs[:opts.Limit]
	}
	out := make([]mobycontainer.Summary, 0, len(recs))
	for _, rec := range recs {
		out = append(out, summary(rec))
	}
	return out, nil
}

func summary(rec container.Record) mobycontainer.Summary {
	s := mobycontainer.Summary{
		ID: rec.ID, Names: []string{"/" + rec.Name}, Image: rec.Image, ImageID: rec.ImageID,
		Command: strings.Join(append([]string{rec.Path}, rec.Args...), " "), Created: rec.Created.Unix(),
		Labels: rec.Config.Labels, State: mobycontainer.ContainerState(rec.State.Status),
		Status: statusText(rec.State), Ports: []mobycontainer.PortSummary{},
		NetworkSettings: &mobycontainer.NetworkSettingsSummary{Networks: endpointSettings(rec)},
		Mounts:          []mobycontainer.MountPoint{},
	}
	s.HostConfig.NetworkMode = string(rec.HostConfig.NetworkMode)
	if s.HostConfig.NetworkMode == "" {
		s.HostConfig.NetworkMode = "bridge"
	}
	for port, bs := range portMap(rec) {
		if len(bs) == 0 {
			s.Ports = append(s.Ports, mobycontainer.PortSummary{PrivatePort: port.Num(), Type: string(port.Proto())})
		}
		for _, b := range bs {
			hp, _ := strconv.Atoi(b.HostPort)
			s.Ports = append(s.Ports, mobycontainer.PortSummary{IP: b.HostIP, PrivatePort: port.Num(), PublicPort: uint16(hp), Type: string(port.Proto())})
		}
	}
	return s
}

func statusText(st container.State) string {
	switch st.Status {
	case container.Running:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt))
	case container.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case container.Exited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case container.Created:
		return "Created"
	case container.Removing:
		return "Removal In Progress"
	}
	return string(st.Status)
}

func matchFilters(rec container.Record, f map[string][]string) bool {
	match := func(key string, ok func(string) bool) bool {
		vals := f[key]
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return match("name", func(v string) bool { return strings.Contains(rec.Name, strings.TrimPrefix(v, "/")) }) &&
		match("id", func(v string) bool { return strings.HasPrefix(rec.ID, v) }) &&
		match("status", func(v string) bool { return string(rec.State.Status) == v }) &&
		allLabels(rec.Config.Labels, f["label"]) &&
		match("network", func(v string) bool {
			for _, ep := range rec.Endpoints {
				if ep.NetworkName == v || strings.HasPrefix(ep.NetworkID, v) {
					return true
				}
			}
			return false
		}) &&
		match("ancestor", func(v string) bool { return rec.Image == v || strings.HasPrefix(rec.ImageID, v) })
}

// allLabels reports whether labels satisfy every label filter ("k" or
// "k=v"): unlike other filters, several label filters must all hold.
func allLabels(labels map[string]string, filters []string) bool {
	for _, v := range filters {
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasVal && got != val) {
			return false
		}
	}
	return true
}
