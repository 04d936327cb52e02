package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type execOptions struct {
	interactive, tty, detach, privileged bool
	env, envFiles                        []string
	workdir, user, detachKeys            string
}

func newExecCommand(env *cliEnv) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  requiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), env, o, args[0], args[1:])
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	fs.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	fs.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func runExec(ctx context.Context, env *cliEnv, o *execOptions, ref string, command []string) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	if !o.detach && o.tty && o.interactive {
		if _, isTerm := terminalFd(env.in); !isTerm {
			return errors.New("the input device is not a TTY")
		}
	}
	var envs []string
	for _, f := range o.envFiles {
		lines, err := readEnvFile(f)
		if err != nil {
			return err
		}
		envs = append(envs, lines...)
	}
	for _, e := range o.env {
		envs = append(envs, parseEnv(e))
	}
	create := client.ExecCreateOptions{
		User: o.user, Privileged: o.privileged, TTY: o.tty, Env: envs,
		WorkingDir: o.workdir, Cmd: command, DetachKeys: o.detachKeys,
		AttachStdin: o.interactive && !o.detach, AttachStdout: !o.detach, AttachStderr: !o.detach,
	}
	var size client.ConsoleSize
	if h, w, ok := terminalSize(env.out); ok && o.tty {
		size = client.ConsoleSize{Height: h, Width: w}
		create.ConsoleSize = size
	}
	res, err := api.ExecCreate(ctx, ref, create)
	if err != nil {
		return err
	}
	if o.detach {
		_, err := api.ExecStart(ctx, res.ID, client.ExecStartOptions{Detach: true, TTY: o.tty, ConsoleSize: size})
		return err
	}
	return attachExec(ctx, env, api, res.ID, o, size)
}

func attachExec(ctx context.Context, env *cliEnv, api *client.Client, execID string, o *execOptions, size client.ConsoleSize) error {
	resp, err := api.ExecAttach(ctx, execID, client.ExecAttachOptions{TTY: o.tty, ConsoleSize: size})
	if err != nil {
		return err
	}
	defer resp.Close()
	cfg := streamConfig{out: env.out, errOut: env.errOut, tty: o.tty}
	if o.interactive {
		cfg.in = env.in
	}
	if o.tty {
		stop := monitorSize(ctx, env.out, func(ctx context.Context, h, w uint) error {
			_, err := api.ExecResize(ctx, execID, client.ExecResizeOptions{Height: h, Width: w})
			return err
		})
		defer stop()
	}
	if err := streamHijacked(ctx, resp.HijackedResponse, cfg); err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return fmt.Errorf("error streaming exec output: %w", err)
	}
	code, err := execExitCode(ctx, api, execID)
	if err != nil {
		return err
	}
	if code != 0 {
		return StatusError{Code: code}
	}
	return nil
}

// execExitCode reads the exec's exit code, allowing the daemon a moment to
// record it after the streams close.
func execExitCode(ctx context.Context, api *client.Client, execID string) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := api.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return 0, err
		}
		if !res.Running || time.Now().After(deadline) {
			return res.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type logsOptions struct {
	follow, timestamps, details bool
	tail, since, until          string
}

func newLogsCommand(env *cliEnv) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  requiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), env, o, args[0])
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	fs.BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&o.details, "details", false, "Show extra details provided to logs")
	fs.StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	fs.StringVar(&o.since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	fs.StringVar(&o.until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	return cmd
}

func runLogs(ctx context.Context, env *cliEnv, o *logsOptions, ref string) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	info, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	body, err := api.ContainerLogs(ctx, info.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Since: o.since, Until: o.until,
		Timestamps: o.timestamps, Follow: o.follow, Tail: o.tail, Details: o.details,
	})
	if err != nil {
		return err
	}
	defer body.Close()
	if info.Container.Config != nil && info.Container.Config.Tty {
		_, err = io.Copy(env.out, body)
	} else {
		_, err = stdcopy.StdCopy(env.out, env.errOut, body)
	}
	return err
}
