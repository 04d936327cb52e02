package network

import (
	"net"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/network/ipam"
	mobynet "github.com/moby/moby/api/types/network"
)

// Docker's option names, honoured at create and shown by inspect.
const (
	optBridgeName = "com.docker.network.bridge.name"
	optICC        = "com.docker.network.bridge.enable_icc"
	optMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
	optMTU        = "com.docker.network.driver.mtu"
	optDefault    = "com.docker.network.bridge.default_bridge"
	optHostIPv4   = "com.docker.network.bridge.host_binding_ipv4"
)

// Subnet is one address range of a network.
type Subnet struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix          `json:",omitzero"`
	Gateway netip.Addr            `json:",omitzero"`
	Aux     map[string]netip.Addr `json:",omitempty"`
}

// Record is a network as persisted.
type Record struct {
	ID         string
	Name       string
	Driver     string
	Created    time.Time
	Subnets    []Subnet
	EnableIPv6 bool
	Internal   bool
	Attachable bool
	Labels     map[string]string
	Options    map[string]string
	Bridge     string
	ICC        bool
	Masquerade bool
	MTU        int
	Default    bool // the predefined "bridge" network
	// AdoptedBridge is set when the bridge existed before the network (a
	// bridge.name option naming an administrator's bridge): berth then
	// adds and removes only its gateway addresses, never the device.
	AdoptedBridge bool `json:",omitempty"`
}

// netState is a network in memory: its record, address pools and endpoints.
type netState struct {
	rec       Record
	pools     []*ipam.Pool // one per subnet, same order
	endpoints map[string]endpointInfo
}

type endpointInfo struct {
	name string // container name
	ep   container.Endpoint
}

func (n *netState) shortID() string { return n.rec.ID[:12] }

func (n *netState) pool(v6 bool) *ipam.Pool {
	for _, p := range n.pools {
		if p.Subnet().Addr().Is6() == v6 {
			return p
		}
	}
	return nil
}

func (n *netState) gateways() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range n.pools {
		out = append(out, netip.PrefixFrom(p.Gateway(), p.Subnet().Bits()))
	}
	return out
}

// inspect renders the Docker-shaped view.
func (n *netState) inspect() mobynet.Inspect {
	r := n.rec
	cfgs := make([]mobynet.IPAMConfig, 0, len(r.Subnets))
	for i, s := range r.Subnets {
		c := mobynet.IPAMConfig{Subnet: s.Subnet, IPRange: s.IPRange, Gateway: s.Gateway, AuxAddress: s.Aux}
		if !c.Gateway.IsValid() && i < len(n.pools) {
			c.Gateway = n.pools[i].Gateway()
		}
		cfgs = append(cfgs, c)
	}
	out := mobynet.Inspect{
		Network: mobynet.Network{
			Name: r.Name, ID: r.ID, Created: r.Created, Scope: "local", Driver: r.Driver,
			EnableIPv4: true, EnableIPv6: r.EnableIPv6,
			IPAM:     mobynet.IPAM{Driver: "default", Options: map[string]string{}, Config: cfgs},
			Internal: r.Internal, Attachable: r.Attachable, Options: n.options(), Labels: nonNil(r.Labels),
		},
		Containers: map[string]mobynet.EndpointResource{},
	}
	for cid, info := range n.endpoints {
		res := mobynet.EndpointResource{Name: info.name, EndpointID: info.ep.EndpointID}
		res.IPv4Address, _ = netip.ParsePrefix(info.ep.IPv4)
		res.IPv6Address, _ = netip.ParsePrefix(info.ep.IPv6)
		if mac, err := net.ParseMAC(info.ep.MAC); err == nil {
			res.MacAddress = mobynet.HardwareAddr(mac)
		}
		out.Containers[cid] = res
	}
	return out
}

// options returns the network's options, with the effective bridge settings
// spelled out so that inspect shows what is in force.
func (n *netState) options() map[string]string {
	o := map[string]string{}
	for k, v := range n.rec.Options {
		o[k] = v
	}
	o[optBridgeName] = n.rec.Bridge
	o[optICC] = strconv.FormatBool(n.rec.ICC)
	o[optMasquerade] = strconv.FormatBool(n.rec.Masquerade)
	o[optMTU] = strconv.Itoa(n.mtu())
	if n.rec.Default {
		o[optDefault] = "true"
		o[optHostIPv4] = "0.0.0.0"
	}
	return o
}

func (n *netState) mtu() int {
	if n.rec.MTU > 0 {
		return n.rec.MTU
	}
	return 1500
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// sortedNets returns the networks ordered by name.
func sortedNets(nets map[string]*netState) []*netState {
	out := make([]*netState, 0, len(nets))
	for _, n := range nets {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rec.Name < out[j].rec.Name })
	return out
}
