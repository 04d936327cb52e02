// Package cli implements the berth client commands. They mirror the docker
// CLI's verbs, flags and output formats and talk to the daemon through the
// Engine API client.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// DefaultHost is the daemon address used when neither -H nor BERTH_HOST is set.
const DefaultHost = "unix:///run/berth/berth.sock"

// HostEnvVar names the environment variable that overrides DefaultHost.
const HostEnvVar = "BERTH_HOST"

// StatusError carries a process exit code out of a command. Any message that
// belongs with it has already been printed by the time it is returned.
type StatusError struct {
	Code int
}

func (e StatusError) Error() string {
	return fmt.Sprintf("exit status %d", e.Code)
}

// messageError is an error that must be printed verbatim and exit with code.
type messageError struct {
	code int
	msg  string
}

func (e messageError) Error() string { return e.msg }

// cliEnv is the per-invocation state shared by all commands of one root.
type cliEnv struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer
	host   string
	api    *client.Client
	apiErr error
}

// connect creates the API client once. Creating it does no I/O; API version
// negotiation happens on the first request.
func (e *cliEnv) connect() {
	if e.api != nil || e.apiErr != nil {
		return
	}
	e.api, e.apiErr = client.New(client.WithHost(e.host))
	if e.apiErr != nil {
		e.apiErr = fmt.Errorf("invalid daemon host %q: %w", e.host, e.apiErr)
	}
}

// client returns the API client, creating it if no hook has done so yet.
func (e *cliEnv) client() (*client.Client, error) {
	e.connect()
	return e.api, e.apiErr
}

func defaultHost() string {
	if h := os.Getenv(HostEnvVar); h != "" {
		return h
	}
	return DefaultHost
}

// NewRootCommand builds the berth command tree. The daemon subcommand is
// added by the caller with AddCommand. Setting Version on the returned
// command enables --version and is reported by "berth version".
func NewRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	env := &cliEnv{in: stdin, out: stdout, errOut: stderr}
	root := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND [ARG...]",
		Short:         "A self-sufficient runtime for containers",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Failing to build the client must not break commands that never use
		// it (such as the daemon), so the error is kept for first use.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			env.connect()
			return nil
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&env.host, "host", "H", defaultHost(), "Daemon socket to connect to")
	root.SetFlagErrorFunc(flagError)
	// Only shown when the caller sets root.Version.
	root.SetVersionTemplate("berth version {{.Version}}\n")

	addTopLevel(root, env)
	root.AddCommand(
		newContainerGroup(env),
		newImageGroup(env),
		newNetworkGroup(env),
		newSystemGroup(env),
	)
	hideFlagsInUseLine(root)
	return root
}

func addTopLevel(root *cobra.Command, env *cliEnv) {
	root.AddCommand(
		newRunCommand(env), newCreateCommand(env), newStartCommand(env),
		newStopCommand(env), newKillCommand(env), newRestartCommand(env),
		newRmCommand(env), newPsCommand(env, "ps"), newInspectCommand(env),
		newLogsCommand(env), newWaitCommand(env), newExecCommand(env),
		newPortCommand(env), newTopCommand(env), newStatsCommand(env),
		newAttachCommand(env), newRenameCommand(env), newCpCommand(env),
		newImagesCommand(env, "images"), newImportCommand(env),
		newLoadCommand(env), newSaveCommand(env), newTagCommand(env),
		newRmiCommand(env, "rmi"), newPullCommand(env),
		newVersionCommand(env), newInfoCommand(env), newEventsCommand(env),
	)
}

func newContainerGroup(env *cliEnv) *cobra.Command {
	cmd := groupCommand("container", "Manage containers")
	ls := newPsCommand(env, "ls")
	ls.Aliases = []string{"ps", "list"}
	rm := newRmCommand(env)
	rm.Aliases = []string{"remove"}
	cmd.AddCommand(
		newAttachCommand(env), newCpCommand(env), newCreateCommand(env),
		newExecCommand(env), newContainerInspectCommand(env), newKillCommand(env),
		newLogsCommand(env), ls, newPortCommand(env), newContainerPruneCommand(env),
		newRenameCommand(env), newRestartCommand(env), rm, newRunCommand(env),
		newStartCommand(env), newStatsCommand(env), newStopCommand(env),
		newTopCommand(env), newWaitCommand(env),
	)
	return cmd
}

func newImageGroup(env *cliEnv) *cobra.Command {
	cmd := groupCommand("image", "Manage images")
	ls := newImagesCommand(env, "ls")
	ls.Aliases = []string{"list"}
	rm := newRmiCommand(env, "rm")
	rm.Aliases = []string{"remove", "rmi"}
	cmd.AddCommand(
		newImportCommand(env), newImageInspectCommand(env), newLoadCommand(env),
		ls, newImagePruneCommand(env), newPullCommand(env), rm,
		newSaveCommand(env), newTagCommand(env),
	)
	return cmd
}

func newSystemGroup(env *cliEnv) *cobra.Command {
	cmd := groupCommand("system", "Manage berth")
	cmd.AddCommand(newInfoCommand(env), newEventsCommand(env))
	return cmd
}

func groupCommand(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
}

// hideFlagsInUseLine keeps usage lines in docker's "[OPTIONS]" style.
func hideFlagsInUseLine(cmd *cobra.Command) {
	cmd.DisableFlagsInUseLine = true
	for _, c := range cmd.Commands() {
		hideFlagsInUseLine(c)
	}
}

// Execute runs the command tree and returns the process exit code. Errors
// are printed to the command's stderr the way the docker CLI prints them.
func Execute(cmd *cobra.Command) int {
	err := cmd.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	var se StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	var me messageError
	if errors.As(err, &me) {
		fmt.Fprintln(cmd.ErrOrStderr(), me.msg)
		return me.code
	}
	fmt.Fprintln(cmd.ErrOrStderr(), describeError(err))
	return 1
}

// describeError rewrites the client's docker-branded connection failures.
func describeError(err error) string {
	msg := err.Error()
	if client.IsErrConnectionFailed(err) {
		msg = strings.ReplaceAll(msg, "Docker daemon", "berth daemon")
		msg = strings.ReplaceAll(msg, "docker daemon", "berth daemon")
		msg = strings.ReplaceAll(msg, "docker API", "berth API")
	}
	return msg
}

// flagError matches docker: flag problems exit 125 with a pointer to help.
func flagError(cmd *cobra.Command, err error) error {
	return messageError{
		code: 125,
		msg:  fmt.Sprintf("%s\nSee '%s --help'.", err, cmd.CommandPath()),
	}
}

// noArgs rejects positional arguments, except that it lets cobra report an
// unknown subcommand for group commands.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return fmt.Errorf("berth: '%s %s' is not a berth command.\nSee '%s --help'", cmd.Name(), args[0], cmd.CommandPath())
	}
	return argError(cmd, "accepts no arguments")
}

func argError(cmd *cobra.Command, what string) error {
	return fmt.Errorf("%q %s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
		cmd.CommandPath(), what, cmd.CommandPath(), cmd.UseLine(), cmd.Short)
}

func requiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argError(cmd, fmt.Sprintf("requires at least %d %s", n, plural(n, "argument")))
	}
}

func requiresExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argError(cmd, fmt.Sprintf("requires exactly %d %s", n, plural(n, "argument")))
	}
}

func requiresRangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return argError(cmd, fmt.Sprintf("requires at least %d and at most %d %s", lo, hi, plural(hi, "argument")))
	}
}

func requiresMaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argError(cmd, fmt.Sprintf("requires at most %d %s", n, plural(n, "argument")))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// eachArg applies fn to every argument, printing the argument on success the
// way docker's multi-object verbs do, and joins the failures.
func eachArg(out io.Writer, args []string, fn func(string) error) error {
	var errs []error
	for _, a := range args {
		if err := fn(a); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, a)
	}
	return errors.Join(errs...)
}
