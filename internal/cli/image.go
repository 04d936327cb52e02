package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
)

const (
	defaultImagesFormat        = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	defaultImagesDigestsFormat = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	noneValue                  = "<none>"
)

// imageRow is what images templates see, fields in docker's JSON key order.
type imageRow struct {
	Containers   string
	CreatedAt    string
	CreatedSince string
	Digest       string
	ID           string
	Repository   string
	SharedSize   string
	Size         string
	Tag          string
	UniqueSize   string
	VirtualSize  string
}

func imageHeader() imageRow {
	return imageRow{
		Containers: "CONTAINERS", CreatedAt: "CREATED AT", CreatedSince: "CREATED",
		Digest: "DIGEST", ID: "IMAGE ID", Repository: "REPOSITORY", SharedSize: "SHARED SIZE",
		Size: "SIZE", Tag: "TAG", UniqueSize: "UNIQUE SIZE", VirtualSize: "VIRTUAL SIZE",
	}
}

// splitRepoTag splits repo:tag, leaving a registry port in the repository.
func splitRepoTag(s string) (repo, tag string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, noneValue
	}
	return s[:i], s[i+1:]
}

// newImageRows produces one row per tag, or a single <none> row for an
// untagged image, like docker images.
func newImageRows(img image.Summary, trunc bool) []imageRow {
	created := time.Unix(img.Created, 0)
	base := imageRow{
		Containers:   "N/A",
		CreatedAt:    created.String(),
		CreatedSince: sinceString(created),
		Digest:       noneValue,
		ID:           img.ID,
		SharedSize:   "N/A",
		Size:         humanSize(img.Size),
		UniqueSize:   "N/A",
		VirtualSize:  humanSize(img.Size),
	}
	if trunc {
		base.ID = shortID(img.ID)
	}
	if img.Containers >= 0 {
		base.Containers = strconv.FormatInt(img.Containers, 10)
	}
	if img.SharedSize >= 0 {
		base.SharedSize = humanSize(img.SharedSize)
		base.UniqueSize = humanSize(img.Size - img.SharedSize)
	}
	digests := map[string]string{}
	for _, d := range img.RepoDigests {
		if repo, dg, ok := strings.Cut(d, "@"); ok {
			digests[repo] = dg
		}
	}
	var rows []imageRow
	for _, rt := range img.RepoTags {
		if rt == "<none>:<none>" {
			continue
		}
		r := base
		r.Repository, r.Tag = splitRepoTag(rt)
		if dg, ok := digests[r.Repository]; ok {
			r.Digest = dg
		}
		rows = append(rows, r)
	}
	if len(rows) > 0 {
		return rows
	}
	r := base
	r.Repository, r.Tag = noneValue, noneValue
	for _, repo := range sortedKeys(digests) {
		r.Repository, r.Digest = repo, digests[repo]
		break
	}
	return []imageRow{r}
}

type imagesOptions struct {
	all, quiet, noTrunc, digests bool
	format                       string
	filters                      []string
}

func newImagesCommand(env *cliEnv, use string) *cobra.Command {
	o := &imagesOptions{}
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  requiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(cmd.Context(), env, o, args)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.all, "all", "a", false, "Show all images (default hides intermediate images)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVar(&o.digests, "digests", false, "Show digests")
	fs.StringVar(&o.format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&o.filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

func runImages(ctx context.Context, env *cliEnv, o *imagesOptions, args []string) error {
	api, err := env.client()
	if err != nil {
		return err
	}
	f, err := parseFilters(o.filters)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		f.Add("reference", args[0])
	}
	res, err := api.ImageList(ctx, client.ImageListOptions{All: o.all, Filters: f})
	if err != nil {
		return err
	}
	def := defaultImagesFormat
	if o.digests {
		def = defaultImagesDigestsFormat
	}
	format := listFormat(o.format, "{{.ID}}", def, o.quiet)
	var rows []imageRow
	for _, img := range res.Items {
		rows = append(rows, newImageRows(img, !o.noTrunc)...)
	}
	return writeList(env.out, format, imageHeader(), rows)
}

func newRmiCommand(env *cliEnv, use string) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				res, err := api.ImageRemove(cmd.Context(), ref, client.ImageRemoveOptions{Force: force, PruneChildren: !noPrune})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				printImageDeletes(env.out, res.Items, "Untagged: ", "Deleted: ")
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func printImageDeletes(w io.Writer, items []image.DeleteResponse, untagged, deleted string) {
	for _, d := range items {
		if d.Untagged != "" {
			fmt.Fprintln(w, untagged+d.Untagged)
		}
		if d.Deleted != "" {
			fmt.Fprintln(w, deleted+d.Deleted)
		}
	}
}

func newTagCommand(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  requiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			_, err = api.ImageTag(cmd.Context(), client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		},
	}
}

func newImagePruneCommand(env *cliEnv) *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
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
			f.Add("dangling", strconv.FormatBool(!all))
			warning := "WARNING! This will remove all dangling images."
			if all {
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !force && !confirm(env, warning) {
				return nil
			}
			res, err := api.ImagePrune(cmd.Context(), client.ImagePruneOptions{Filters: f})
			if err != nil {
				return err
			}
			if len(res.Report.ImagesDeleted) > 0 {
				fmt.Fprintln(env.out, "Deleted Images:")
				printImageDeletes(env.out, res.Report.ImagesDeleted, "untagged: ", "deleted: ")
				fmt.Fprintln(env.out)
			}
			fmt.Fprintf(env.out, "Total reclaimed space: %s\n", reclaimedSize(res.Report.SpaceReclaimed))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

func newPullCommand(env *cliEnv) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  requiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			named, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return fmt.Errorf("invalid reference format: %w", err)
			}
			named = reference.TagNameOnly(named)
			if quiet {
				resp, err := api.ImagePull(cmd.Context(), args[0], client.ImagePullOptions{})
				if err != nil {
					return err
				}
				defer resp.Close()
				if err := resp.Wait(cmd.Context()); err != nil {
					return err
				}
			} else if err := pullImage(cmd.Context(), env, api, args[0], false); err != nil {
				return err
			}
			fmt.Fprintln(env.out, named.String())
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// displayStream renders a daemon progress stream, or copies it verbatim
// when the daemon answered with plain text.
func displayStream(r io.Reader, out io.Writer) error {
	br := bufio.NewReader(r)
	first, err := firstNonSpace(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	if first != '{' {
		_, err := io.Copy(out, br)
		return err
	}
	fd, isTerm := terminalFd(out)
	return jsonmessage.DisplayJSONMessagesStream(br, out, fd, isTerm, nil)
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if err != nil {
			return 0, err
		}
		if c := b[i-1]; c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return c, nil
		}
	}
}

func newImportCommand(env *cliEnv) *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  requiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			src := client.ImageImportSource{SourceName: "-"}
			switch {
			case args[0] == "-":
				src.Source = env.in
			case strings.HasPrefix(args[0], "http://"), strings.HasPrefix(args[0], "https://"):
				src.SourceName = args[0]
			default:
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("opening import source: %w", err)
				}
				defer f.Close()
				src.Source = f
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			body, err := api.ImageImport(cmd.Context(), src, ref, client.ImageImportOptions{Message: message, Changes: changes})
			if err != nil {
				return err
			}
			defer body.Close()
			return displayStream(body, env.out)
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

func newLoadCommand(env *cliEnv) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			in := env.in
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("opening load input: %w", err)
				}
				defer f.Close()
				in = f
			} else if _, isTerm := terminalFd(in); isTerm || in == nil {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			body, err := api.ImageLoad(cmd.Context(), in, client.ImageLoadWithQuiet(quiet))
			if err != nil {
				return err
			}
			defer body.Close()
			return displayStream(body, env.out)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

func newSaveCommand(env *cliEnv) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			out := env.out
			if output == "" {
				if _, isTerm := terminalFd(out); isTerm {
					return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
				}
			}
			body, err := api.ImageSave(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer body.Close()
			if output == "" {
				_, err = io.Copy(out, body)
				return err
			}
			return writeFileFrom(output, body)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// writeFileFrom writes r to path through a temporary file so a failed save
// leaves no partial archive behind.
func writeFileFrom(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(dirOf(path), ".berth-save-*")
	if err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to save image: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndex(path, "/"); i >= 0 {
		if i == 0 {
			return "/"
		}
		return path[:i]
	}
	return "."
}
