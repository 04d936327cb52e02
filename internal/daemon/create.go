package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
)

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CreateRequest is a decoded POST /containers/create.
type CreateRequest struct {
	Name             string
	Config           *mobycontainer.Config
	HostConfig       *mobycontainer.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// Create records a new container; nothing runs until Start.
func (d *Daemon) Create(ctx context.Context, req CreateRequest) (string, error) {
	if req.Config == nil {
		return "", errdefs.Invalidf("config cannot be empty in order to create a container")
	}
	if req.HostConfig == nil {
		req.HostConfig = &mobycontainer.HostConfig{}
	}
	if req.Name != "" && !validName.MatchString(req.Name) {
		return "", errdefs.Invalidf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	img, err := d.images.Get(req.Config.Image)
	if err != nil {
		return "", imageErr(err)
	}
	rec, err := buildRecord(req, img)
	if err != nil {
		return "", err
	}
	if err := d.validateNetworking(&rec, req.NetworkingConfig); err != nil {
		return "", networkingCreateError(err)
	}
	if err := validateHostConfig(req.HostConfig); err != nil {
		return "", err
	}

	d.mu.Lock()
	if rec.Name == "" {
		rec.Name = d.generateNameLocked()
	}
	if other, ok := d.names[rec.Name]; ok {
		d.mu.Unlock()
		return "", errdefs.Conflictf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", rec.Name, other)
	}
	c := newCtr(rec)
	d.names[rec.Name] = rec.ID
	d.containers[rec.ID] = c
	d.mu.Unlock()

	err = d.prepareDirs(rec.ID)
	if err == nil {
		// The rootfs is made now, so a forced image delete cannot take its layers.
		_, err = d.images.Mount(ctx, rec.ImageID, rec.ID)
	}
	if err == nil {
		err = d.save(c)
	}
	if err != nil {
		d.images.RemoveRootfs(rec.ID)
		d.forget(c)
		return "", fmt.Errorf("create container %s: %w", rec.Name, err)
	}
	d.emitContainer(c, events.ActionCreate, nil)
	return rec.ID, nil
}

func (d *Daemon) prepareDirs(id string) error {
	for _, dir := range []string{d.dataDir(id), d.execDir(id)} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return err
		}
	}
	// The log exists from the start so that an attach before start can follow it.
	f, err := os.OpenFile(d.logPath(id), os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	return f.Close()
}

// forget drops a container from memory and disk (used on failed create and on removal).
func (d *Daemon) forget(c *ctr) {
	d.mu.Lock()
	delete(d.containers, c.rec.ID)
	if d.names[c.rec.Name] == c.rec.ID {
		delete(d.names, c.rec.Name)
	}
	d.mu.Unlock()
	d.store.Delete("containers", c.rec.ID)
	os.RemoveAll(d.dataDir(c.rec.ID))
	os.RemoveAll(d.execDir(c.rec.ID))
}

func imageErr(err error) error {
	switch {
	case errdefs.ClassOf(err) != errdefs.Unknown:
		return err
	case isErr(err, image.ErrNotFound):
		return errdefs.AsNotFound(err)
	case isErr(err, image.ErrConflict):
		return errdefs.AsConflict(err)
	case isErr(err, image.ErrInvalid):
		return errdefs.AsInvalid(err)
	}
	return err
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// buildRecord merges the image's config into the create request like Docker does.
func buildRecord(req CreateRequest, img image.Image) (container.Record, error) {
	cfg := *req.Config
	ic := img.Config
	if len(cfg.Entrypoint) == 0 {
		cfg.Entrypoint = ic.Entrypoint
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = ic.Cmd
		}
	}
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return container.Record{}, errdefs.Invalidf("no command specified")
	}
	cfg.Env = mergeEnv(ic.Env, cfg.Env)
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = ic.WorkingDir
	}
	if cfg.User == "" {
		cfg.User = ic.User
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = ic.StopSignal
	}
	cfg.Labels = mergeMaps(ic.Labels, cfg.Labels)
	for p := range ic.ExposedPorts {
		if port, err := network.ParsePort(p); err == nil {
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = network.PortSet{}
			}
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	argv := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	id := newID()
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
	}
	return container.Record{
		ID: id, Name: strings.TrimPrefix(req.Name, "/"), Created: time.Now().UTC(),
		Image: req.Config.Image, ImageID: img.ID, Path: argv[0], Args: argv[1:],
		Config: cfg, HostConfig: *req.HostConfig,
		State: container.State{Status: container.Created},
	}, nil
}

func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func mergeMaps(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return map[string]string{}
	}
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func validateHostConfig(hc *mobycontainer.HostConfig) error {
	switch hc.RestartPolicy.Name {
	case "", "no", "always", "unless-stopped":
		if hc.RestartPolicy.MaximumRetryCount != 0 {
			return errdefs.Invalidf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case "on-failure":
		if hc.RestartPolicy.MaximumRetryCount < 0 {
			return errdefs.Invalidf("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return errdefs.Invalidf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", hc.RestartPolicy.Name)
	}
	if hc.AutoRemove && hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != "no" {
		return errdefs.Invalidf("can't create 'AutoRemove' container with restart policy")
	}
	return nil
}

var (
	nameLeft  = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "quiet", "swift", "tidy", "witty"}
	nameRight = []string{"albatross", "beacon", "cutter", "dinghy", "ferry", "galley", "harbor", "jetty", "keel", "lighthouse", "mooring", "pier", "quay", "schooner", "wharf"}
)

func (d *Daemon) generateNameLocked() string {
	for {
		b := make([]byte, 2)
		rand.Read(b)
		name := nameLeft[int(b[0])%len(nameLeft)] + "_" + nameRight[int(b[1])%len(nameRight)]
		if _, taken := d.names[name]; !taken {
			return name
		}
		name += "_" + hex.EncodeToString(b)
		if _, taken := d.names[name]; !taken {
			return name
		}
	}
}
