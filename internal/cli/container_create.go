package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// createOptions holds the flags shared by run and create.
type createOptions struct {
	name, workdir, user, hostname, entrypoint string
	env, envFiles, labels                     []string
	interactive, tty, autoRemove, publishAll  bool
	init                                      bool
	publish, expose                           []string
	networks, aliases                         []string
	ip, ip6, mac                              string
	dns, dnsSearch, dnsOptions, extraHosts    []string
	restart, stopSignal                       string
	stopTimeout                               int
	pull                                      string
}

func addCreateFlags(fs *pflag.FlagSet, o *createOptions) {
	// -h means --hostname here, so help gets no shorthand.
	fs.Bool("help", false, "Print usage")
	fs.StringVar(&o.name, "name", "", "Assign a name to the container")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	fs.StringArrayVarP(&o.labels, "label", "l", nil, "Set meta data on a container")
	fs.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&o.autoRemove, "rm", false, "Automatically remove the container when it exits")
	fs.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fs.BoolVar(&o.init, "init", false, "Run an init inside the container")
	fs.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fs.StringArrayVar(&o.expose, "expose", nil, "Expose a port or a range of ports")
	fs.StringArrayVar(&o.networks, "network", nil, "Connect a container to a network")
	fs.StringArrayVar(&o.networks, "net", nil, "Connect a container to a network")
	_ = fs.MarkHidden("net")
	fs.StringArrayVar(&o.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVar(&o.aliases, "net-alias", nil, "Add network-scoped alias for the container")
	_ = fs.MarkHidden("net-alias")
	fs.StringVar(&o.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&o.ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	fs.StringVar(&o.mac, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	fs.StringArrayVar(&o.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&o.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fs.StringArrayVar(&o.dnsOptions, "dns-option", nil, "Set DNS options")
	fs.StringArrayVar(&o.dnsOptions, "dns-opt", nil, "Set DNS options")
	_ = fs.MarkHidden("dns-opt")
	fs.StringArrayVar(&o.extraHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fs.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	fs.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.StringVar(&o.pull, "pull", "missing", `Pull image before running ("always", "missing", "never")`)
}

// buildCreate turns the flags plus IMAGE [COMMAND...] into a create request.
func buildCreate(fs *pflag.FlagSet, o *createOptions, args []string) (client.ContainerCreateOptions, error) {
	cfg, err := buildConfig(fs, o, args)
	if err != nil {
		return client.ContainerCreateOptions{}, err
	}
	hc, err := buildHostConfig(o)
	if err != nil {
		return client.ContainerCreateOptions{}, err
	}
	if err := parseExpose(o.expose, cfg.ExposedPorts); err != nil {
		return client.ContainerCreateOptions{}, err
	}
	if err := parsePublish(o.publish, cfg.ExposedPorts, hc.PortBindings); err != nil {
		return client.ContainerCreateOptions{}, err
	}
	nc, mode, err := buildNetworking(o)
	if err != nil {
		return client.ContainerCreateOptions{}, err
	}
	hc.NetworkMode = mode
	return client.ContainerCreateOptions{
		Config: cfg, HostConfig: hc, NetworkingConfig: nc, Name: o.name,
	}, nil
}

func buildConfig(fs *pflag.FlagSet, o *createOptions, args []string) (*container.Config, error) {
	var env []string
	for _, f := range o.envFiles {
		lines, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		env = append(env, lines...)
	}
	for _, e := range o.env {
		env = append(env, parseEnv(e))
	}
	cfg := &container.Config{
		Image:        args[0],
		Hostname:     o.hostname,
		User:         o.user,
		WorkingDir:   o.workdir,
		Env:          env,
		Labels:       parseLabels(o.labels),
		Tty:          o.tty,
		OpenStdin:    o.interactive,
		StopSignal:   o.stopSignal,
		ExposedPorts: network.PortSet{},
	}
	if len(args) > 1 {
		cfg.Cmd = args[1:]
	}
	if o.entrypoint != "" {
		cfg.Entrypoint = []string{o.entrypoint}
	} else if fs.Changed("entrypoint") {
		// An explicitly empty --entrypoint resets the image's entrypoint.
		cfg.Entrypoint = []string{""}
	}
	if fs.Changed("stop-timeout") {
		t := o.stopTimeout
		cfg.StopTimeout = &t
	}
	return cfg, nil
}

func buildHostConfig(o *createOptions) (*container.HostConfig, error) {
	restart, err := parseRestart(o.restart)
	if err != nil {
		return nil, err
	}
	if o.autoRemove && !restart.IsNone() {
		return nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	dns, err := parseAddrs(o.dns, "dns")
	if err != nil {
		return nil, err
	}
	hosts := make([]string, 0, len(o.extraHosts))
	for _, h := range o.extraHosts {
		norm, err := parseExtraHost(h)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, norm)
	}
	hc := &container.HostConfig{
		AutoRemove:      o.autoRemove,
		RestartPolicy:   restart,
		PublishAllPorts: o.publishAll,
		PortBindings:    network.PortMap{},
		DNS:             dns,
		DNSSearch:       o.dnsSearch,
		DNSOptions:      o.dnsOptions,
		ExtraHosts:      hosts,
	}
	if o.init {
		v := true
		hc.Init = &v
	}
	return hc, nil
}

// buildNetworking maps --network and the per-endpoint flags. The first
// network becomes the network mode; endpoint flags apply to it.
func buildNetworking(o *createOptions) (*network.NetworkingConfig, container.NetworkMode, error) {
	ip4, err := parseOptionalAddr(o.ip, "IPv4")
	if err != nil {
		return nil, "", err
	}
	ip6, err := parseOptionalAddr(o.ip6, "IPv6")
	if err != nil {
		return nil, "", err
	}
	mac, err := parseMAC(o.mac)
	if err != nil {
		return nil, "", err
	}
	hasEndpointOpts := len(o.aliases) > 0 || ip4.IsValid() || ip6.IsValid() || mac != nil
	nets := o.networks
	if len(nets) == 0 {
		if !hasEndpointOpts {
			return nil, "", nil
		}
		nets = []string{"default"}
	}
	eps := make(map[string]*network.EndpointSettings, len(nets))
	for i, n := range nets {
		ep := &network.EndpointSettings{}
		if i == 0 && hasEndpointOpts {
			ep.Aliases = o.aliases
			ep.MacAddress = mac
			if ip4.IsValid() || ip6.IsValid() {
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip4, IPv6Address: ip6}
			}
		}
		eps[n] = ep
	}
	return &network.NetworkingConfig{EndpointsConfig: eps}, container.NetworkMode(nets[0]), nil
}

// createContainer creates the container, pulling the image once if the
// daemon does not have it, and prints the daemon's warnings.
func createContainer(ctx context.Context, env *cliEnv, api *client.Client, opts client.ContainerCreateOptions, pull string) (string, error) {
	image := opts.Config.Image
	if pull == "always" {
		if err := pullImage(ctx, env, api, image, true); err != nil {
			return "", err
		}
	}
	res, err := api.ContainerCreate(ctx, opts)
	if err != nil && pull != "never" && isMissingImage(err) {
		fmt.Fprintf(env.errOut, "Unable to find image '%s' locally\n", familiarRef(image))
		if perr := pullImage(ctx, env, api, image, true); perr != nil {
			return "", perr
		}
		res, err = api.ContainerCreate(ctx, opts)
	}
	if err != nil {
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(env.errOut, "WARNING: %s\n", w)
	}
	return res.ID, nil
}

func isMissingImage(err error) bool {
	return cerrdefs.IsNotFound(err) && strings.Contains(strings.ToLower(err.Error()), "no such image")
}

func familiarRef(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

// pullImage pulls ref and renders the progress stream; toErr sends it to
// stderr, as run does, so stdout stays the container's.
func pullImage(ctx context.Context, env *cliEnv, api *client.Client, ref string, toErr bool) error {
	resp, err := api.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	out := env.out
	if toErr {
		out = env.errOut
	}
	fd, isTerm := terminalFd(out)
	return jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm, nil)
}

// runError reports a run/create failure like docker and exits 125.
func runError(cmd *cobra.Command, err error) error {
	return messageError{
		code: 125,
		msg: fmt.Sprintf("berth: %s\n\nRun '%s --help' for more information",
			describeError(err), cmd.CommandPath()),
	}
}

func newCreateCommand(env *cliEnv) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return runError(cmd, err)
			}
			opts, err := buildCreate(cmd.Flags(), o, args)
			if err != nil {
				return runError(cmd, err)
			}
			if o.interactive {
				opts.Config.AttachStdin, opts.Config.StdinOnce = true, true
			}
			opts.Config.AttachStdout, opts.Config.AttachStderr = true, true
			id, err := createContainer(cmd.Context(), env, api, opts, o.pull)
			if err != nil {
				return runError(cmd, err)
			}
			fmt.Fprintln(env.out, id)
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	addCreateFlags(cmd.Flags(), o)
	return cmd
}
