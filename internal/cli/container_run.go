package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// session describes one foreground connection to a container's streams.
type session struct {
	id        string
	stdin     bool
	tty       bool
	sigProxy  bool
	condition container.WaitCondition
}

type exitResult struct {
	code int
	err  error
}

// waitExit asks the daemon to report the container's exit. It gives the
// request a moment to reach the daemon so that an exit right after start
// is not missed.
func waitExit(ctx context.Context, api *client.Client, id string, cond container.WaitCondition) <-chan exitResult {
	ch := make(chan exitResult, 1)
	registered := make(chan struct{})
	go func() {
		res := api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
		close(registered)
		select {
		case r := <-res.Result:
			var err error
			if r.Error != nil && r.Error.Message != "" {
				err = errors.New(r.Error.Message)
			}
			ch <- exitResult{code: int(r.StatusCode), err: err}
		case err := <-res.Error:
			ch <- exitResult{code: 125, err: err}
		}
	}()
	select {
	case <-registered:
	case <-time.After(time.Second):
	}
	return ch
}

// runSession attaches to the container, runs start (if any), streams until
// the output ends and returns the container's exit code.
func runSession(ctx context.Context, env *cliEnv, api *client.Client, s session, start func(context.Context) error) (int, error) {
	resp, err := api.ContainerAttach(ctx, s.id, client.ContainerAttachOptions{
		Stream: true, Stdin: s.stdin, Stdout: true, Stderr: true,
	})
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	exitC := waitExit(ctx, api, s.id, s.condition)

	cfg := streamConfig{out: env.out, errOut: env.errOut, tty: s.tty}
	if s.stdin {
		cfg.in = env.in
	}
	streamDone := make(chan error, 1)
	go func() { streamDone <- streamHijacked(ctx, resp.HijackedResponse, cfg) }()

	if start != nil {
		if err := start(ctx); err != nil {
			return 0, err
		}
	}
	if s.tty {
		stop := monitorSize(ctx, env.out, func(ctx context.Context, h, w uint) error {
			_, err := api.ContainerResize(ctx, s.id, client.ContainerResizeOptions{Height: h, Width: w})
			return err
		})
		defer stop()
	} else if s.sigProxy {
		defer proxySignals(ctx, api, s.id)()
	}

	if err := <-streamDone; err != nil {
		if errors.Is(err, errDetached) {
			return 0, errDetached
		}
		return 0, fmt.Errorf("error streaming container output: %w", err)
	}
	res := <-exitC
	if res.err != nil {
		return res.code, res.err
	}
	return res.code, nil
}

// runStatusError maps a run failure to docker's exit codes: 127 for a
// missing command, 126 for one that cannot be executed, 125 otherwise.
func runStatusError(cmd *cobra.Command, err error) error {
	me := runError(cmd, err).(messageError)
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		me.code = 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		me.code = 126
	}
	return me
}

type runOptions struct {
	createOptions
	detach   bool
	sigProxy bool
}

func newRunCommand(env *cliEnv) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, env, o, args)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	addCreateFlags(fs, &o.createOptions)
	fs.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	fs.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	return cmd
}

func runRun(cmd *cobra.Command, env *cliEnv, o *runOptions, args []string) error {
	ctx := cmd.Context()
	api, err := env.client()
	if err != nil {
		return runError(cmd, err)
	}
	if !o.detach && o.tty && o.interactive {
		if _, isTerm := terminalFd(env.in); !isTerm {
			return runError(cmd, errors.New("the input device is not a TTY"))
		}
	}
	opts, err := buildCreate(cmd.Flags(), &o.createOptions, args)
	if err != nil {
		return runError(cmd, err)
	}
	if !o.detach {
		opts.Config.AttachStdout, opts.Config.AttachStderr = true, true
		if o.interactive {
			opts.Config.AttachStdin, opts.Config.StdinOnce = true, true
		}
		if h, w, ok := terminalSize(env.out); ok && o.tty {
			opts.HostConfig.ConsoleSize = [2]uint{h, w}
		}
	}
	id, err := createContainer(ctx, env, api, opts, o.pull)
	if err != nil {
		return runStatusError(cmd, err)
	}
	startFn := func(ctx context.Context) error {
		_, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{})
		return err
	}
	if o.detach {
		if err := startFn(ctx); err != nil {
			return runStatusError(cmd, err)
		}
		fmt.Fprintln(env.out, id)
		return nil
	}
	return runAttached(cmd, env, api, o, id, startFn)
}

func runAttached(cmd *cobra.Command, env *cliEnv, api *client.Client, o *runOptions, id string, startFn func(context.Context) error) error {
	ctx := cmd.Context()
	cond := container.WaitConditionNextExit
	if o.autoRemove {
		cond = container.WaitConditionRemoved
	}
	started := false
	code, err := runSession(ctx, env, api, session{
		id: id, stdin: o.interactive, tty: o.tty, sigProxy: o.sigProxy, condition: cond,
	}, func(ctx context.Context) error {
		err := startFn(ctx)
		started = err == nil
		return err
	})
	if errors.Is(err, errDetached) {
		return nil
	}
	if err != nil {
		if !started && o.autoRemove {
			_, _ = api.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
		}
		if !started {
			return runStatusError(cmd, err)
		}
		return err
	}
	if code != 0 {
		return StatusError{Code: code}
	}
	return nil
}
