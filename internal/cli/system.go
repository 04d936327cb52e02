package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// clientVersion describes this binary for version and info.
type clientVersion struct {
	Version    string
	APIVersion string `json:"ApiVersion"`
	GoVersion  string
	GitCommit  string
	Os         string
	Arch       string
}

// serverVersion mirrors docker's server section of version.
type serverVersion struct {
	Platform      struct{ Name string }
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion,omitempty"`
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string `json:",omitempty"`
	Experimental  bool   `json:",omitempty"`
	BuildTime     string `json:",omitempty"`
	Components    []system.ComponentVersion
}

type versionInfo struct {
	Client clientVersion
	Server *serverVersion
}

// newClientVersion describes this binary; version is the root command's
// Version when the caller set one.
func newClientVersion(api *client.Client, version string) clientVersion {
	v := clientVersion{Version: "dev", GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				v.GitCommit = s.Value[:7]
			}
		}
	}
	if version != "" {
		v.Version = version
	}
	if api != nil {
		v.APIVersion = api.ClientVersion()
	}
	return v
}

func newServerVersion(r client.ServerVersionResult) *serverVersion {
	s := &serverVersion{
		Version: r.Version, APIVersion: r.APIVersion, MinAPIVersion: r.MinAPIVersion,
		Os: r.Os, Arch: r.Arch, Experimental: r.Experimental, Components: r.Components,
	}
	s.Platform.Name = r.Platform.Name
	for _, c := range r.Components {
		if c.Name == "Engine" {
			s.GitCommit = c.Details["GitCommit"]
			s.GoVersion = c.Details["GoVersion"]
			s.KernelVersion = c.Details["KernelVersion"]
			s.BuildTime = c.Details["BuildTime"]
		}
	}
	return s
}

const versionTemplate = `Client:
 Version:	{{.Client.Version}}
 API version:	{{.Client.APIVersion}}
 Go version:	{{.Client.GoVersion}}
 Git commit:	{{.Client.GitCommit}}
 OS/Arch:	{{.Client.Os}}/{{.Client.Arch}}
{{- if .Server}}

Server:{{if .Server.Platform.Name}} {{.Server.Platform.Name}}{{end}}
 Engine:
  Version:	{{.Server.Version}}
  API version:	{{.Server.APIVersion}}{{if .Server.MinAPIVersion}} (minimum version {{.Server.MinAPIVersion}}){{end}}
  Go version:	{{.Server.GoVersion}}
  Git commit:	{{.Server.GitCommit}}
  OS/Arch:	{{.Server.Os}}/{{.Server.Arch}}
  Experimental:	{{.Server.Experimental}}
{{- end}}
`

func newVersionCommand(env *cliEnv) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the berth version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			info := versionInfo{Client: newClientVersion(api, cmd.Root().Version)}
			res, serverErr := api.ServerVersion(cmd.Context(), client.ServerVersionOptions{})
			if serverErr == nil {
				info.Server = newServerVersion(res)
				info.Client.APIVersion = api.ClientVersion()
			}
			if err := writeVersion(env.out, format, info); err != nil {
				return err
			}
			return serverErr
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func writeVersion(w io.Writer, format string, info versionInfo) error {
	if format == jsonKey {
		format = "{{json .}}"
	}
	if format != "" {
		tmpl, err := parseTemplate(format)
		if err != nil {
			return err
		}
		return execLine(w, tmpl, info)
	}
	tmpl, err := parseTemplate(versionTemplate)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 20, 1, 1, ' ', 0)
	if err := tmpl.Execute(tw, info); err != nil {
		return err
	}
	return tw.Flush()
}

func newInfoCommand(env *cliEnv) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			res, err := api.Info(cmd.Context(), client.InfoOptions{})
			if err != nil {
				return err
			}
			if format != "" {
				if format == jsonKey {
					format = "{{json .}}"
				}
				tmpl, err := parseTemplate(format)
				if err != nil {
					return err
				}
				return execLine(env.out, tmpl, res.Info)
			}
			writeInfo(env.out, newClientVersion(api, cmd.Root().Version), res.Info)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func writeInfo(w io.Writer, cv clientVersion, i system.Info) {
	fmt.Fprintf(w, "Client:\n Version:    %s\n Context:    default\n Debug Mode: false\n\n", cv.Version)
	fmt.Fprintln(w, "Server:")
	fmt.Fprintf(w, " Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n",
		i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped)
	fmt.Fprintf(w, " Images: %d\n", i.Images)
	lines := [][2]string{
		{"Server Version", i.ServerVersion},
		{"Storage Driver", i.Driver},
		{"Logging Driver", i.LoggingDriver},
		{"Cgroup Driver", i.CgroupDriver},
		{"Cgroup Version", i.CgroupVersion},
		{"Default Runtime", i.DefaultRuntime},
		{"Kernel Version", i.KernelVersion},
		{"Operating System", i.OperatingSystem},
		{"OSType", i.OSType},
		{"Architecture", i.Architecture},
		{"CPUs", fmt.Sprint(i.NCPU)},
		{"Total Memory", units.BytesSize(float64(i.MemTotal))},
		{"Name", i.Name},
		{"ID", i.ID},
		{"Docker Root Dir", i.DockerRootDir},
		{"Debug Mode", fmt.Sprint(i.Debug)},
	}
	for _, l := range lines {
		if l[1] != "" {
			fmt.Fprintf(w, " %s: %s\n", l[0], l[1])
		}
	}
	if len(i.Labels) > 0 {
		fmt.Fprintln(w, " Labels:")
		for _, l := range i.Labels {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintf(w, " Live Restore Enabled: %v\n", i.LiveRestoreEnabled)
	for _, warn := range i.Warnings {
		fmt.Fprintln(w, warn)
	}
}

type eventsOptions struct {
	since, until, format string
	filters              []string
}

func newEventsCommand(env *cliEnv) *cobra.Command {
	o := &eventsOptions{}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvents(cmd.Context(), env, o)
		},
	}
	cmd.Flags().StringVar(&o.since, "since", "", "Show all events created since timestamp")
	cmd.Flags().StringVar(&o.until, "until", "", "Stream events until this timestamp")
	cmd.Flags().StringVar(&o.format, "format", "", "Format output using a custom template")
	cmd.Flags().StringArrayVarP(&o.filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

func runEvents(ctx context.Context, env *cliEnv, o *eventsOptions) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	f, err := parseFilters(o.filters)
	if err != nil {
		return err
	}
	format := o.format
	if format == jsonKey {
		format = "{{json .}}"
	}
	emit := func(m events.Message) error { return printEvent(env.out, m) }
	if format != "" {
		tmpl, err := parseTemplate(format)
		if err != nil {
			return err
		}
		emit = func(m events.Message) error { return execLine(env.out, tmpl, m) }
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := api.Events(ctx, client.EventsListOptions{Since: o.since, Until: o.until, Filters: f})
	for {
		select {
		case m := <-res.Messages:
			if err := emit(m); err != nil {
				return err
			}
		case err := <-res.Err:
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
	}
}

// printEvent writes one event in docker's default line format.
func printEvent(w io.Writer, m events.Message) error {
	const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"
	var b strings.Builder
	switch {
	case m.TimeNano != 0:
		b.WriteString(time.Unix(0, m.TimeNano).Format(rfc3339NanoFixed) + " ")
	case m.Time != 0:
		b.WriteString(time.Unix(m.Time, 0).Format(rfc3339NanoFixed) + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, 0, len(keys))
		for _, k := range keys {
			attrs = append(attrs, k+"="+m.Actor.Attributes[k])
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(attrs, ", "))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
