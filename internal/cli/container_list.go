package cli

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const (
	defaultPsFormat     = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	defaultPsSizeFormat = defaultPsFormat + "\t{{.Size}}"
)

// containerRow is what ps templates see. Fields are in alphabetical order so
// that {{json .}} matches docker's key order.
type containerRow struct {
	Command      string
	CreatedAt    string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Names        string
	Networks     string
	Ports        string
	RunningFor   string
	Size         string
	State        string
	Status       string

	labels map[string]string
}

// Label returns the value of one label, for {{.Label "key"}}.
func (r containerRow) Label(name string) string {
	if r.labels == nil {
		return strings.ToUpper(name)
	}
	return r.labels[name]
}

func containerHeader() containerRow {
	return containerRow{
		Command: "COMMAND", CreatedAt: "CREATED AT", ID: "CONTAINER ID", Image: "IMAGE",
		Labels: "LABELS", LocalVolumes: "LOCAL VOLUMES", Mounts: "MOUNTS", Names: "NAMES",
		Networks: "NETWORKS", Ports: "PORTS", RunningFor: "CREATED", Size: "SIZE",
		State: "STATE", Status: "STATUS",
	}
}

func newContainerRow(c container.Summary, trunc bool) containerRow {
	created := time.Unix(c.Created, 0)
	id, image, command := c.ID, c.Image, c.Command
	if trunc {
		id = shortID(id)
		if strings.HasPrefix(image, "sha256:") {
			image = shortID(image)
		}
		command = ellipsis(command, 20)
	}
	size := humanSize(c.SizeRw)
	if c.SizeRootFs > 0 {
		size = fmt.Sprintf("%s (virtual %s)", size, humanSize(c.SizeRootFs))
	}
	var mounts []string
	volumes := 0
	for _, m := range c.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		if m.Type == "volume" {
			volumes++
		}
		mounts = append(mounts, name)
	}
	var networks []string
	if c.NetworkSettings != nil {
		networks = sortedKeys(c.NetworkSettings.Networks)
	}
	return containerRow{
		Command:      strconv.Quote(command),
		CreatedAt:    created.String(),
		ID:           id,
		Image:        image,
		Labels:       joinSortedMap(c.Labels),
		LocalVolumes: strconv.Itoa(volumes),
		Mounts:       strings.Join(mounts, ","),
		Names:        containerNames(c.Names, trunc),
		Networks:     strings.Join(networks, ","),
		Ports:        displayablePorts(c.Ports),
		RunningFor:   sinceString(created),
		Size:         size,
		State:        string(c.State),
		Status:       c.Status,
		labels:       c.Labels,
	}
}

// containerNames drops the leading slash and, unless untruncated, the
// legacy link names that contain a further slash.
func containerNames(names []string, trunc bool) string {
	var out []string
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if trunc && strings.Contains(n, "/") {
			continue
		}
		out = append(out, n)
	}
	return strings.Join(out, ",")
}

// displayablePorts is docker's port summary: consecutive ports sharing an
// address and protocol collapse into ranges.
func displayablePorts(ports []container.PortSummary) string {
	type group struct{ first, last uint16 }
	sorted := append([]container.PortSummary(nil), ports...)
	sort.Slice(sorted, func(i, j int) bool { return portLess(sorted[i], sorted[j]) })
	groups := map[string]*group{}
	var keys, result, hostMappings []string
	for _, p := range sorted {
		cur := p.PrivatePort
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != cur {
				host := net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort)))
				hostMappings = append(hostMappings, fmt.Sprintf("%s->%d/%s", host, p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		switch {
		case g == nil:
			groups[key] = &group{cur, cur}
			keys = append(keys, key)
		case cur == g.last+1:
			g.last = cur
		default:
			result = append(result, formPortGroup(key, g.first, g.last))
			groups[key] = &group{cur, cur}
		}
	}
	for _, k := range keys {
		result = append(result, formPortGroup(k, groups[k].first, groups[k].last))
	}
	return strings.Join(append(result, hostMappings...), ", ")
}

func formPortGroup(key string, first, last uint16) string {
	ip, proto, hasIP := strings.Cut(key, "/")
	if !hasIP {
		ip, proto = "", key
	}
	g := strconv.Itoa(int(first))
	if first != last {
		g += "-" + strconv.Itoa(int(last))
	}
	if ip != "" {
		g = net.JoinHostPort(ip, g) + "->" + g
	}
	return g + "/" + proto
}

func portLess(a, b container.PortSummary) bool {
	if a.PrivatePort != b.PrivatePort {
		return a.PrivatePort < b.PrivatePort
	}
	if a.IP != b.IP {
		return a.IP.Less(b.IP)
	}
	if a.PublicPort != b.PublicPort {
		return a.PublicPort < b.PublicPort
	}
	return a.Type < b.Type
}

type psOptions struct {
	all, quiet, noTrunc, size, latest bool
	last                              int
	format                            string
	filters                           []string
}

func newPsCommand(env *cliEnv, use string) *cobra.Command {
	o := &psOptions{}
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS]",
		Short: "List containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPs(cmd, env, o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Only display container IDs")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	fs.BoolVarP(&o.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	fs.IntVarP(&o.last, "last", "n", -1, "Show n last created containers (includes all states)")
	fs.StringVar(&o.format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&o.filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

func runPs(cmd *cobra.Command, env *cliEnv, o *psOptions) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	f, err := parseFilters(o.filters)
	if err != nil {
		return err
	}
	opts := client.ContainerListOptions{All: o.all, Size: o.size, Filters: f, Limit: o.last}
	if o.latest {
		opts.Limit = 1
	}
	if opts.Limit > 0 {
		opts.All = true
	}
	def := defaultPsFormat
	if o.size {
		def = defaultPsSizeFormat
	}
	format := listFormat(o.format, "{{.ID}}", def, o.quiet)
	if strings.Contains(format, ".Size") {
		opts.Size = true
	}
	res, err := api.ContainerList(cmd.Context(), opts)
	if err != nil {
		return err
	}
	rows := make([]containerRow, 0, len(res.Items))
	for _, c := range res.Items {
		rows = append(rows, newContainerRow(c, !o.noTrunc))
	}
	return writeList(env.out, format, containerHeader(), rows)
}

// publishedPorts lists the host addresses bound to each container port.
func publishedPorts(c container.InspectResponse) map[string][]string {
	out := map[string][]string{}
	if c.NetworkSettings == nil {
		return out
	}
	for p, bindings := range c.NetworkSettings.Ports {
		for _, b := range bindings {
			ip := "0.0.0.0"
			if b.HostIP.IsValid() {
				ip = b.HostIP.String()
			}
			out[p.String()] = append(out[p.String()], net.JoinHostPort(ip, b.HostPort))
		}
	}
	return out
}

// sortedPorts orders "port/proto" keys numerically.
func sortedPorts(m map[string][]string) []string {
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool {
		pi, _, _ := strings.Cut(keys[i], "/")
		pj, _, _ := strings.Cut(keys[j], "/")
		ni, _ := strconv.Atoi(pi)
		nj, _ := strconv.Atoi(pj)
		return ni < nj
	})
	return keys
}

func writeTop(env *cliEnv, res client.ContainerTopResult) error {
	w := tabwriter.NewWriter(env.out, 20, 1, 3, ' ', 0)
	fmt.Fprintln(w, strings.Join(res.Titles, "\t"))
	for _, p := range res.Processes {
		fmt.Fprintln(w, strings.Join(p, "\t"))
	}
	return w.Flush()
}
