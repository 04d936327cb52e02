package cli

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultNetworkFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

// networkRow is what network ls templates see, in docker's JSON key order.
type networkRow struct {
	CreatedAt string
	Driver    string
	ID        string
	IPv4      string
	IPv6      string
	Internal  string
	Labels    string
	Name      string
	Scope     string

	labels map[string]string
}

// Label returns the value of one label, for {{.Label "key"}}.
func (r networkRow) Label(name string) string {
	if r.labels == nil {
		return strings.ToUpper(name)
	}
	return r.labels[name]
}

func networkHeader() networkRow {
	return networkRow{
		CreatedAt: "CREATED", Driver: "DRIVER", ID: "NETWORK ID", IPv4: "IPV4", IPv6: "IPV6",
		Internal: "INTERNAL", Labels: "LABELS", Name: "NAME", Scope: "SCOPE",
	}
}

func newNetworkRow(n network.Summary, trunc bool) networkRow {
	id := n.ID
	if trunc {
		id = shortID(id)
	}
	return networkRow{
		CreatedAt: n.Created.String(),
		Driver:    n.Driver,
		ID:        id,
		IPv4:      strconv.FormatBool(n.EnableIPv4),
		IPv6:      strconv.FormatBool(n.EnableIPv6),
		Internal:  strconv.FormatBool(n.Internal),
		Labels:    joinSortedMap(n.Labels),
		Name:      n.Name,
		Scope:     n.Scope,
		labels:    n.Labels,
	}
}

func newNetworkGroup(env *cliEnv) *cobra.Command {
	cmd := groupCommand("network", "Manage networks")
	cmd.AddCommand(
		newNetworkConnectCommand(env), newNetworkCreateCommand(env),
		newNetworkDisconnectCommand(env), newNetworkInspectCommand(env),
		newNetworkLsCommand(env), newNetworkPruneCommand(env), newNetworkRmCommand(env),
	)
	return cmd
}

type networkCreateOptions struct {
	driver, ipamDriver                      string
	subnets, ipRanges, gateways, auxAddress []string
	internal, attachable, ipv6, ipv4        bool
	labels, opts, ipamOpts                  []string
	scope                                   string
}

func newNetworkCreateCommand(env *cliEnv) *cobra.Command {
	o := &networkCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  requiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			opts, err := buildNetworkCreate(cmd, o)
			if err != nil {
				return err
			}
			res, err := api.NetworkCreate(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			for _, w := range res.Warning {
				fmt.Fprintf(env.errOut, "WARNING: %s\n", w)
			}
			fmt.Fprintln(env.out, res.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.driver, "driver", "d", "bridge", "Driver to manage the Network")
	fs.StringVar(&o.ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	fs.StringArrayVar(&o.subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	fs.StringArrayVar(&o.ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	fs.StringArrayVar(&o.gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	fs.StringArrayVar(&o.auxAddress, "aux-address", nil, "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	fs.BoolVar(&o.internal, "internal", false, "Restrict external access to the network")
	fs.BoolVar(&o.attachable, "attachable", false, "Enable manual container attachment")
	fs.BoolVar(&o.ipv6, "ipv6", false, "Enable or disable IPv6 networking")
	fs.BoolVar(&o.ipv4, "ipv4", true, "Enable or disable IPv4 address assignment")
	fs.StringArrayVar(&o.labels, "label", nil, "Set metadata on a network")
	fs.StringArrayVarP(&o.opts, "opt", "o", nil, "Set driver specific options")
	fs.StringArrayVar(&o.ipamOpts, "ipam-opt", nil, "Set IPAM driver specific options")
	fs.StringVar(&o.scope, "scope", "", "Control the network's scope")
	return cmd
}

func buildNetworkCreate(cmd *cobra.Command, o *networkCreateOptions) (client.NetworkCreateOptions, error) {
	ipam, err := buildIPAM(o)
	if err != nil {
		return client.NetworkCreateOptions{}, err
	}
	opts := client.NetworkCreateOptions{
		Driver:     o.driver,
		Scope:      o.scope,
		IPAM:       ipam,
		Internal:   o.internal,
		Attachable: o.attachable,
		Options:    parseLabels(o.opts),
		Labels:     parseLabels(o.labels),
	}
	if cmd.Flags().Changed("ipv6") {
		opts.EnableIPv6 = &o.ipv6
	}
	if cmd.Flags().Changed("ipv4") {
		opts.EnableIPv4 = &o.ipv4
	}
	return opts, nil
}

// buildIPAM pairs every --ip-range, --gateway and --aux-address with the
// --subnet that contains it, as docker does.
func buildIPAM(o *networkCreateOptions) (*network.IPAM, error) {
	if len(o.subnets) == 0 && (len(o.ipRanges) > 0 || len(o.gateways) > 0 || len(o.auxAddress) > 0) {
		return nil, fmt.Errorf("every ip-range or gateway must have a corresponding subnet")
	}
	cfgs := make([]network.IPAMConfig, 0, len(o.subnets))
	for _, s := range o.subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet %s: %w", s, err)
		}
		cfgs = append(cfgs, network.IPAMConfig{Subnet: p})
	}
	for _, r := range o.ipRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid ip-range %s: %w", r, err)
		}
		c, err := matchSubnet(cfgs, p.Addr(), "range "+r)
		if err != nil {
			return nil, err
		}
		if c.IPRange.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, c.IPRange, c.Subnet)
		}
		c.IPRange = p
	}
	for _, g := range o.gateways {
		a, err := netip.ParseAddr(g)
		if err != nil {
			return nil, fmt.Errorf("invalid gateway %s: %w", g, err)
		}
		c, err := matchSubnet(cfgs, a, "gateway "+g)
		if err != nil {
			return nil, err
		}
		if c.Gateway.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, c.Gateway, c.Subnet)
		}
		c.Gateway = a
	}
	if err := addAuxAddresses(cfgs, o.auxAddress); err != nil {
		return nil, err
	}
	return &network.IPAM{Driver: o.ipamDriver, Options: parseLabels(o.ipamOpts), Config: cfgs}, nil
}

func addAuxAddresses(cfgs []network.IPAMConfig, values []string) error {
	for _, v := range values {
		name, ip, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("invalid aux-address %s: expected name=ip", v)
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("invalid aux-address %s: %w", v, err)
		}
		c, err := matchSubnet(cfgs, a, "aux-address "+v)
		if err != nil {
			return err
		}
		if c.AuxAddress == nil {
			c.AuxAddress = map[string]netip.Addr{}
		}
		c.AuxAddress[name] = a
	}
	return nil
}

func matchSubnet(cfgs []network.IPAMConfig, a netip.Addr, what string) (*network.IPAMConfig, error) {
	for i := range cfgs {
		if cfgs[i].Subnet.Contains(a) {
			return &cfgs[i], nil
		}
	}
	return nil, fmt.Errorf("no matching subnet for %s", what)
}

type networkLsOptions struct {
	quiet, noTrunc bool
	format         string
	filters        []string
}

func newNetworkLsCommand(env *cliEnv) *cobra.Command {
	o := &networkLsOptions{}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNetworkLs(cmd.Context(), env, o)
		},
	}
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Only display network IDs")
	cmd.Flags().BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate the output")
	cmd.Flags().StringVar(&o.format, "format", "", "Format output using a custom template")
	cmd.Flags().StringArrayVarP(&o.filters, "filter", "f", nil, "Provide filter values (e.g. \"driver=bridge\")")
	return cmd
}

func runNetworkLs(ctx context.Context, env *cliEnv, o *networkLsOptions) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	f, err := parseFilters(o.filters)
	if err != nil {
		return err
	}
	res, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return err
	}
	items := res.Items
	sort.SliceStable(items, func(i, j int) bool { return naturalLess(items[i].Name, items[j].Name) })
	rows := make([]networkRow, 0, len(items))
	for _, n := range items {
		rows = append(rows, newNetworkRow(n, !o.noTrunc))
	}
	return writeList(env.out, listFormat(o.format, "{{.ID}}", defaultNetworkFormat, o.quiet), networkHeader(), rows)
}

// naturalLess orders strings with embedded numbers numerically ("net2" <
// "net10"), matching docker's network ls order.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := leadingDigits(a)
			nb, rb := leadingDigits(b)
			ia, _ := strconv.ParseUint(na, 10, 64)
			ib, _ := strconv.ParseUint(nb, 10, 64)
			if ia != ib {
				return ia < ib
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func leadingDigits(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func newNetworkInspectCommand(env *cliEnv) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fetch := func(ctx context.Context, api *client.Client, ref string) (inspectItem, error) {
				res, err := api.NetworkInspect(ctx, ref, client.NetworkInspectOptions{Verbose: verbose})
				if err != nil {
					return inspectItem{}, err
				}
				return inspectItem{typed: res.Network, raw: res.Raw}, nil
			}
			return runInspect(cmd.Context(), env, args, format, fetch)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newNetworkRmCommand(env *cliEnv) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			return eachArg(env.out, args, func(ref string) error {
				_, err := api.NetworkRemove(cmd.Context(), ref, client.NetworkRemoveOptions{})
				if force && cerrdefs.IsNotFound(err) {
					return nil
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newNetworkConnectCommand(env *cliEnv) *cobra.Command {
	var aliases, driverOpts []string
	var ip, ip6 string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  requiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			ip4Addr, err := parseOptionalAddr(ip, "IPv4")
			if err != nil {
				return err
			}
			ip6Addr, err := parseOptionalAddr(ip6, "IPv6")
			if err != nil {
				return err
			}
			ep := &network.EndpointSettings{Aliases: aliases, DriverOpts: parseLabels(driverOpts)}
			if ip4Addr.IsValid() || ip6Addr.IsValid() {
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip4Addr, IPv6Address: ip6Addr}
			}
			_, err = api.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: ep})
			return err
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	cmd.Flags().StringVar(&ip6, "ip6", "", "IPv6 address (e.g., \"2001:db8::33\")")
	cmd.Flags().StringArrayVar(&driverOpts, "driver-opt", nil, "driver options for the network")
	return cmd
}

func newNetworkDisconnectCommand(env *cliEnv) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  requiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			_, err = api.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

func newNetworkPruneCommand(env *cliEnv) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if !force && !confirm(env, "WARNING! This will remove all custom networks not used by at least one container.") {
				return nil
			}
			res, err := api.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			printPruned(env, "Deleted Networks:", res.Report.NetworksDeleted)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}
