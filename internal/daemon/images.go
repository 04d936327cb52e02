package daemon

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/image"
	mobyimage "github.com/moby/moby/api/types/image"
)

func isErr(err, target error) bool { return errors.Is(err, target) }

// ImageInspect returns the Docker-shaped view of an image.
func (d *Daemon) ImageInspect(ref string) (mobyimage.InspectResponse, error) {
	img, err := d.images.Get(ref)
	if err != nil {
		return mobyimage.InspectResponse{}, imageErr(err)
	}
	cfg := img.Config
	return mobyimage.InspectResponse{
		ID: img.ID, RepoTags: nonNilSlice(img.RepoTags), RepoDigests: []string{},
		Created: img.Created.Format("2006-01-02T15:04:05.999999999Z07:00"), Config: &cfg,
		Architecture: img.Architecture, Os: img.OS, Size: img.Size,
		RootFS: mobyimage.RootFS{Type: "layers", Layers: img.Layers},
	}, nil
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ImageList returns the images in Docker's summary shape.
func (d *Daemon) ImageList() ([]mobyimage.Summary, error) {
	imgs, err := d.images.List()
	if err != nil {
		return nil, err
	}
	uses := map[string]int64{}
	for _, c := range d.all() {
		rec, _, _, _ := c.snapshot()
		uses[rec.ImageID]++
	}
	out := make([]mobyimage.Summary, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, mobyimage.Summary{
			ID: img.ID, RepoTags: nonNilSlice(img.RepoTags), RepoDigests: []string{}, Created: img.Created.Unix(),
			Size: img.Size, Labels: img.Config.Labels, Containers: uses[img.ID],
		})
	}
	return out, nil
}

// ImageDelete untags or removes an image, refusing while containers use it.
func (d *Daemon) ImageDelete(ref string, force bool) ([]image.DeleteItem, error) {
	items, err := d.images.Delete(ref, force, func(imageID string) (string, bool, bool) {
		var stopped string
		for _, c := range d.all() {
			rec, _, _, _ := c.snapshot()
			if rec.ImageID != imageID {
				continue
			}
			if rec.State.Status == container.Running {
				return rec.ID, true, true
			}
			stopped = rec.ID
		}
		return stopped, false, stopped != ""
	})
	return items, imageErr(err)
}

// ImageImport imports a rootfs tarball.
func (d *Daemon) ImageImport(ctx context.Context, r io.Reader, ref string, changes []string, message string) (image.Image, error) {
	img, err := d.images.Import(ctx, r, ref, changes, message)
	return img, imageErr(err)
}

// ImageLoad loads a docker-save or OCI archive.
func (d *Daemon) ImageLoad(ctx context.Context, r io.Reader) ([]string, error) {
	refs, err := d.images.Load(ctx, r)
	return refs, imageErr(err)
}

// ImageSave writes an archive of refs.
func (d *Daemon) ImageSave(ctx context.Context, refs []string, w io.Writer) error {
	return imageErr(d.images.Save(ctx, refs, w))
}

// ImageTag adds a tag.
func (d *Daemon) ImageTag(src, dst string) error { return imageErr(d.images.Tag(src, dst)) }

// ImageGet resolves a reference (validation before streaming).
func (d *Daemon) ImageGet(ref string) (image.Image, error) {
	img, err := d.images.Get(ref)
	return img, imageErr(err)
}

// DaemonStats are the counts /info reports.
type DaemonStats struct {
	ID                                   string
	Containers, Running, Stopped, Images int
	DataRoot                             string
}

// Stats counts containers and images.
func (d *Daemon) Stats() DaemonStats {
	st := DaemonStats{DataRoot: d.cfg.DataRoot, ID: d.daemonID()}
	for _, c := range d.all() {
		rec, _, _, _ := c.snapshot()
		st.Containers++
		if rec.State.Status == container.Running {
			st.Running++
		} else {
			st.Stopped++
		}
	}
	if imgs, err := d.images.List(); err == nil {
		st.Images = len(imgs)
	}
	return st
}

func (d *Daemon) daemonID() string {
	path := filepath.Join(d.cfg.DataRoot, "engine-id")
	if data, err := os.ReadFile(path); err == nil {
		return string(data)
	}
	id := newID()
	os.WriteFile(path, []byte(id), 0o600)
	return id
}

// ImagePrune removes dangling images (untagged), or with all every image
// no container uses, and returns what was deleted and the bytes freed.
func (d *Daemon) ImagePrune(all bool) ([]image.DeleteItem, int64, error) {
	imgs, err := d.images.List()
	if err != nil {
		return nil, 0, err
	}
	used := map[string]bool{}
	for _, c := range d.all() {
		rec, _, _, _ := c.snapshot()
		used[rec.ImageID] = true
	}
	var out []image.DeleteItem
	var freed int64
	for _, img := range imgs {
		if used[img.ID] || (!all && len(img.RepoTags) > 0) {
			continue
		}
		items, err := d.ImageDelete(img.ID, len(img.RepoTags) > 1)
		if err != nil {
			d.log.Debug("image prune", "image", img.ID, "err", err)
			continue
		}
		out = append(out, items...)
		freed += img.Size
	}
	return out, freed, nil
}
