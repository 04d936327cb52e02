package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newStartCommand(env *cliEnv) *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if attach || interactive {
				if len(args) > 1 {
					return errors.New("you cannot start and attach multiple containers at once")
				}
				return startAttached(ctx, env, api, args[0], interactive)
			}
			return eachArg(env.out, args, func(id string) error {
				_, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	return cmd
}

func startAttached(ctx context.Context, env *cliEnv, api *client.Client, ref string, interactive bool) error {
	info, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	c := info.Container
	tty := c.Config != nil && c.Config.Tty
	stdin := interactive && c.Config != nil && c.Config.OpenStdin
	code, err := runSession(ctx, env, api, session{
		id: c.ID, stdin: stdin, tty: tty, sigProxy: true, condition: container.WaitConditionNextExit,
	}, func(ctx context.Context) error {
		_, err := api.ContainerStart(ctx, c.ID, client.ContainerStartOptions{})
		return err
	})
	if errors.Is(err, errDetached) {
		return nil
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return StatusError{Code: code}
	}
	return nil
}

func newAttachCommand(env *cliEnv) *cobra.Command {
	var noStdin, sigProxy bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  requiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			info, err := api.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			c := info.Container
			if c.State == nil || !c.State.Running {
				return errors.New("You cannot attach to a stopped container, start it first") //nolint:staticcheck // docker's wording
			}
			if c.State.Paused {
				return errors.New("You cannot attach to a paused container, unpause it first") //nolint:staticcheck // docker's wording
			}
			tty := c.Config != nil && c.Config.Tty
			stdin := !noStdin && c.Config != nil && c.Config.OpenStdin
			code, err := runSession(ctx, env, api, session{
				id: c.ID, stdin: stdin, tty: tty, sigProxy: sigProxy, condition: container.WaitConditionNotRunning,
			}, nil)
			if errors.Is(err, errDetached) {
				return nil
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return StatusError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	cmd.Flags().String("detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// addTimeoutFlag registers docker's -t/--timeout (and the older --time).
func addTimeoutFlag(cmd *cobra.Command, timeout *int) {
	cmd.Flags().IntVarP(timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().IntVar(timeout, "time", 0, "Seconds to wait before killing the container")
	_ = cmd.Flags().MarkHidden("time")
}

func timeoutIfSet(cmd *cobra.Command, timeout int) *int {
	if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
		return &timeout
	}
	return nil
}

func newStopCommand(env *cliEnv) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			opts := client.ContainerStopOptions{Signal: signal, Timeout: timeoutIfSet(cmd, timeout)}
			return eachArg(env.out, args, func(id string) error {
				_, err := api.ContainerStop(cmd.Context(), id, opts)
				return err
			})
		},
	}
	addTimeoutFlag(cmd, &timeout)
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRestartCommand(env *cliEnv) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			opts := client.ContainerRestartOptions{Signal: signal, Timeout: timeoutIfSet(cmd, timeout)}
			return eachArg(env.out, args, func(id string) error {
				_, err := api.ContainerRestart(cmd.Context(), id, opts)
				return err
			})
		},
	}
	addTimeoutFlag(cmd, &timeout)
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newKillCommand(env *cliEnv) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			return eachArg(env.out, args, func(id string) error {
				_, err := api.ContainerKill(cmd.Context(), id, client.ContainerKillOptions{Signal: signal})
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRmCommand(env *cliEnv) *cobra.Command {
	var opts client.ContainerRemoveOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			return eachArg(env.out, args, func(id string) error {
				_, err := api.ContainerRemove(cmd.Context(), id, opts)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&opts.RemoveVolumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	cmd.Flags().BoolVarP(&opts.RemoveLinks, "link", "l", false, "Remove the specified link")
	return cmd
}

func newWaitCommand(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			var errs []error
			for _, id := range args {
				res := api.ContainerWait(cmd.Context(), id, client.ContainerWaitOptions{})
				select {
				case r := <-res.Result:
					fmt.Fprintln(env.out, r.StatusCode)
				case err := <-res.Error:
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
}

func newRenameCommand(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  requiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			_, err = api.ContainerRename(cmd.Context(), args[0], client.ContainerRenameOptions{NewName: args[1]})
			if err != nil {
				return fmt.Errorf("%w\nError: failed to rename container named %s", err, args[0])
			}
			return nil
		},
	}
}

func newContainerPruneCommand(env *cliEnv) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
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
			if !force && !confirm(env, "WARNING! This will remove all stopped containers.") {
				return nil
			}
			res, err := api.ContainerPrune(cmd.Context(), client.ContainerPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			printPruned(env, "Deleted Containers:", res.Report.ContainersDeleted)
			fmt.Fprintf(env.out, "Total reclaimed space: %s\n", reclaimedSize(res.Report.SpaceReclaimed))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

func printPruned(env *cliEnv, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintln(env.out, title)
	for _, it := range items {
		fmt.Fprintln(env.out, it)
	}
	fmt.Fprintln(env.out)
}

func newTopCommand(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			res, err := api.ContainerTop(cmd.Context(), args[0], client.ContainerTopOptions{Arguments: args[1:]})
			if err != nil {
				return err
			}
			return writeTop(env, res)
		},
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// portLines renders published ports as docker port does.
func portLines(ports map[string][]string, filter string) ([]string, error) {
	if filter != "" {
		hosts, ok := ports[filter]
		if !ok || len(hosts) == 0 {
			return nil, nil
		}
		return hosts, nil
	}
	var out []string
	for _, p := range sortedPorts(ports) {
		for _, h := range ports[p] {
			out = append(out, p+" -> "+h)
		}
	}
	return out, nil
}

func newPortCommand(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  requiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			info, err := api.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			filter := ""
			if len(args) == 2 {
				filter = args[1]
				if _, err := strconv.Atoi(filter); err == nil {
					filter += "/tcp"
				}
			}
			lines, _ := portLines(publishedPorts(info.Container), filter)
			if filter != "" && len(lines) == 0 {
				return fmt.Errorf("Error: No public port '%s' published for %s", filter, args[0]) //nolint:staticcheck // docker's wording
			}
			for _, l := range lines {
				fmt.Fprintln(env.out, l)
			}
			return nil
		},
	}
}
