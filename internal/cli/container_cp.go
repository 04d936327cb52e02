package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// splitCpArg separates CONTAINER:PATH from a local path, as docker cp does.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	c, rest, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(c, ".") {
		return "", arg
	}
	return c, rest
}

func newCpCommand(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  requiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := env.client()
			if err != nil {
				return err
			}
			srcCtr, src := splitCpArg(args[0])
			dstCtr, dst := splitCpArg(args[1])
			switch {
			case srcCtr != "" && dstCtr != "":
				return errors.New("copying between containers is not supported")
			case srcCtr != "":
				return copyFromContainer(cmd.Context(), env, api, srcCtr, src, dst)
			case dstCtr != "":
				return copyToContainer(cmd.Context(), env, api, src, dstCtr, dst)
			}
			return errors.New("must specify at least one container source")
		},
	}
	cmd.Flags().BoolP("archive", "a", false, "Archive mode (copy all uid/gid information)")
	cmd.Flags().BoolP("follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	cmd.Flags().BoolP("quiet", "q", false, "Suppress progress output during copy")
	return cmd
}

func copyFromContainer(ctx context.Context, env *cliEnv, api *client.Client, ctr, src, dst string) error {
	res, err := api.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: src})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dst == "-" {
		_, err := io.Copy(env.out, res.Content)
		return err
	}
	// An existing directory receives the source by its own name; any other
	// destination names the copy itself.
	rename := ""
	if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
		rename = filepath.Base(dst)
		dst = filepath.Dir(dst)
	}
	return extractTar(res.Content, dst, rename)
}

// extractTar unpacks r under dir, replacing the archive's top-level name
// with rename when it is set.
func extractTar(r io.Reader, dir, rename string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("invalid archive entry %q", hdr.Name)
		}
		if rename != "" {
			_, rest, _ := strings.Cut(name, "/")
			name = path.Join(rename, rest)
		}
		if err := writeEntry(tr, hdr, filepath.Join(dir, filepath.FromSlash(name)), dir); err != nil {
			return err
		}
	}
}

func writeEntry(tr *tar.Reader, hdr *tar.Header, target, root string) error {
	mode := fs.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(target, mode|0o700)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case tar.TypeSymlink:
		_ = os.Remove(target)
		return os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		_ = os.Remove(target)
		return os.Link(filepath.Join(root, filepath.FromSlash(path.Clean(hdr.Linkname))), target)
	}
	return nil
}

func copyToContainer(ctx context.Context, env *cliEnv, api *client.Client, src, ctr, dst string) error {
	if src == "-" {
		_, err := api.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{DestinationPath: dst, Content: env.in})
		return err
	}
	if _, err := os.Lstat(src); err != nil {
		return fmt.Errorf("could not find the file %s in the local filesystem", src)
	}
	dir, name := dst, filepath.Base(filepath.Clean(src))
	st, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dst})
	if err != nil || !st.Stat.Mode.IsDir() {
		dir, name = path.Dir(dst), path.Base(dst)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, src, name)) }()
	_, err = api.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{DestinationPath: dir, Content: pr})
	_ = pr.Close()
	return err
}

// writeTar archives src with its top-level entry called name.
func writeTar(w io.Writer, src, name string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		hdr.Name = path.Join(name, filepath.ToSlash(rel))
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
