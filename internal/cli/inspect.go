package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// inspectItem is one inspected object: its decoded form and the daemon's
// JSON exactly as sent.
type inspectItem struct {
	typed any
	raw   []byte
}

// inspectFunc fetches one object by reference.
type inspectFunc func(ctx context.Context, api *client.Client, ref string) (inspectItem, error)

// runInspect inspects every ref, prints what was found and reports the
// failures afterwards, exiting 1 if any, as docker does.
func runInspect(ctx context.Context, env *cliEnv, refs []string, format string, fetch inspectFunc) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	var items []inspectItem
	var errs []string
	for _, ref := range refs {
		item, err := fetch(ctx, api, ref)
		if err != nil {
			errs = append(errs, describeError(err))
			continue
		}
		items = append(items, item)
	}
	if err := writeInspect(env.out, format, items); err != nil {
		return err
	}
	if len(errs) > 0 {
		return messageError{code: 1, msg: strings.Join(errs, "\n")}
	}
	return nil
}

// writeInspect prints items as an indented JSON array, or one template
// result per item when a format is given.
func writeInspect(w io.Writer, format string, items []inspectItem) error {
	if format == "" || format == jsonKey {
		return writeInspectJSON(w, items)
	}
	tmpl, err := parseTemplate(format)
	if err != nil {
		return err
	}
	for _, it := range items {
		out, err := execInspectTemplate(tmpl, it)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w, out); err != nil {
			return err
		}
	}
	return nil
}

func writeInspectJSON(w io.Writer, items []inspectItem) error {
	if len(items) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	var arr bytes.Buffer
	arr.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			arr.WriteByte(',')
		}
		arr.Write(bytes.TrimSpace(it.raw))
	}
	arr.WriteByte(']')
	var out bytes.Buffer
	if err := json.Indent(&out, arr.Bytes(), "", "    "); err != nil {
		return fmt.Errorf("formatting inspect output: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// execInspectTemplate runs the template on the daemon's own JSON first, so
// fields the typed structs lack (such as NetworkSettings.IPAddress) still
// resolve, and falls back to the typed value for templates that need Go
// types (comparisons against numbers, methods).
func execInspectTemplate(tmpl *template.Template, it inspectItem) (string, error) {
	raw, rawErr := decodeRaw(it.raw)
	if rawErr == nil {
		strict := template.Must(tmpl.Clone()).Option("missingkey=error")
		if out, err := execString(strict, raw); err == nil {
			return out, nil
		}
	}
	if it.typed != nil {
		if out, err := execString(tmpl, it.typed); err == nil {
			return out, nil
		}
	}
	if rawErr != nil {
		return "", fmt.Errorf("decoding inspect output: %w", rawErr)
	}
	out, err := execString(tmpl, raw)
	if err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	return out, nil
}

func decodeRaw(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func execString(tmpl *template.Template, data any) (string, error) {
	var buf bytes.Buffer
	err := tmpl.Execute(&buf, data)
	return buf.String(), err
}

func inspectContainer(ctx context.Context, api *client.Client, ref string) (inspectItem, error) {
	res, err := api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if err != nil {
		return inspectItem{}, err
	}
	return inspectItem{typed: res.Container, raw: res.Raw}, nil
}

func inspectImage(ctx context.Context, api *client.Client, ref string) (inspectItem, error) {
	var raw bytes.Buffer
	res, err := api.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
	if err != nil {
		return inspectItem{}, err
	}
	return inspectItem{typed: res.InspectResponse, raw: raw.Bytes()}, nil
}

func inspectNetwork(ctx context.Context, api *client.Client, ref string) (inspectItem, error) {
	res, err := api.NetworkInspect(ctx, ref, client.NetworkInspectOptions{})
	if err != nil {
		return inspectItem{}, err
	}
	return inspectItem{typed: res.Network, raw: res.Raw}, nil
}

// inspectAny resolves ref as a container, then an image, then a network.
func inspectAny(kind string) inspectFunc {
	return func(ctx context.Context, api *client.Client, ref string) (inspectItem, error) {
		fetchers := map[string]inspectFunc{
			"container": inspectContainer,
			"image":     inspectImage,
			"network":   inspectNetwork,
		}
		order := []string{"container", "image", "network"}
		if kind != "" {
			order = []string{kind}
		}
		for _, k := range order {
			item, err := fetchers[k](ctx, api, ref)
			if err == nil {
				return item, nil
			}
			if !cerrdefs.IsNotFound(err) || kind != "" {
				return inspectItem{}, err
			}
		}
		return inspectItem{}, fmt.Errorf("Error: No such object: %s", ref) //nolint:staticcheck // docker's exact wording
	}
}

func newInspectCommand(env *cliEnv) *cobra.Command {
	var format, kind string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on berth objects",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch kind {
			case "", "container", "image", "network":
			default:
				return errors.New(`"` + kind + `" is not a valid value for --type`)
			}
			return runInspect(cmd.Context(), env, args, format, inspectAny(kind))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().StringVar(&kind, "type", "", "Only inspect objects of the given type")
	cmd.Flags().BoolP("size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

func newContainerInspectCommand(env *cliEnv) *cobra.Command {
	return newTypedInspectCommand(env, "CONTAINER", "Display detailed information on one or more containers", inspectContainer)
}

func newImageInspectCommand(env *cliEnv) *cobra.Command {
	return newTypedInspectCommand(env, "IMAGE", "Display detailed information on one or more images", inspectImage)
}

func newTypedInspectCommand(env *cliEnv, what, short string, fetch inspectFunc) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("inspect [OPTIONS] %s [%s...]", what, what),
		Short: short,
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), env, args, format, fetch)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	if what == "CONTAINER" {
		cmd.Flags().BoolP("size", "s", false, "Display total file sizes")
	}
	return cmd
}
