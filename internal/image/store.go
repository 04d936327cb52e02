// Package image is berth's content-addressed image store: blobs, extracted
// layers shared between images, a crash-safe tag index, overlayfs rootfs
// for containers, and docker import/load/save.
//
// On-disk layout under the root passed to New:
//
//	blobs/sha256/<hex>        uncompressed layer tars and image configs
//	layers/<chainID hex>/     each layer extracted once, whiteouts in overlay form
//	repositories.json         tag → image ID and the set of images (atomic writes)
//	containers/<id>/          per-container upper, work, merged and layers.json
//	tmp/                      staging area; emptied on start
//
// Content becomes visible only when the index referencing it is committed,
// so a crash mid-import leaves unreferenced files that the next start
// garbage-collects.
package image

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Image is the daemon-facing view of a stored image.
type Image struct {
	ID           string // "sha256:<hex>" of the config blob
	RepoTags     []string
	Created      time.Time
	Size         int64
	Config       dockerspec.DockerOCIImageConfig
	Layers       []string // diffIDs, bottom-most first
	History      []ocispec.History
	Architecture string
	OS           string
}

// Store is safe for concurrent use.
type Store struct {
	root   string
	logger *slog.Logger
	lockFd int

	mu      sync.Mutex
	idx     *index
	configs map[string][]byte // raw config blobs; immutable, so cacheable
	leases  map[string]int    // content pinned by in-flight operations

	mountMu sync.Mutex // serialises mount state changes
}

// New opens (creating if needed) the store rooted at root. Only one Store
// may use a root at a time; a second New on the same root fails until
// Close.
func New(root string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("create image root: %w", err)
	}
	// mountinfo reports resolved paths; resolving once keeps comparisons exact.
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve image root: %w", err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("resolve image root: %w", err)
	}
	s := &Store{root: abs, logger: logger, lockFd: -1, configs: map[string][]byte{}, leases: map[string]int{}}
	if err := s.init(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init() error {
	for _, d := range []string{"blobs/sha256", "layers", "containers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.root, d), 0o700); err != nil {
			return fmt.Errorf("create image store dir: %w", err)
		}
	}
	fd, err := unix.Open(filepath.Join(s.root, ".lock"), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open image store lock: %w", err)
	}
	s.lockFd = fd
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("image store %s is in use by another process: %w", s.root, err)
	}
	if err := s.cleanStaging(); err != nil {
		return err
	}
	ix, err := readIndex(s.indexPath())
	if err != nil {
		return err
	}
	s.idx = ix
	s.dropBrokenImages()
	if _, err := s.gc(); err != nil {
		s.logger.Warn("image store garbage collection failed", "err", err)
	}
	return nil
}

// Close releases the store's root lock. Mounts are left in place.
func (s *Store) Close() error {
	if s.lockFd < 0 {
		return nil
	}
	err := unix.Close(s.lockFd)
	s.lockFd = -1
	return err
}

// cleanStaging removes leftovers of operations interrupted by a crash.
func (s *Store) cleanStaging() error {
	tmp := filepath.Join(s.root, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("read staging dir: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("clean staging dir: %w", err)
		}
	}
	stale, _ := filepath.Glob(filepath.Join(s.root, ".repositories.json.tmp-*"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
	return nil
}

// dropBrokenImages forgets images whose config blob vanished (e.g. removed
// by hand) so that one damaged image cannot break listing all others.
func (s *Store) dropBrokenImages() {
	for id := range s.idx.Images {
		if _, err := os.Stat(s.blobPath(hexOf(id))); err != nil {
			s.logger.Warn("dropping image with missing config blob", "image", id, "err", err)
			delete(s.idx.Images, id)
		}
	}
	for t, id := range s.idx.Tags {
		if _, ok := s.idx.Images[id]; !ok {
			delete(s.idx.Tags, t)
		}
	}
}

func (s *Store) indexPath() string           { return filepath.Join(s.root, "repositories.json") }
func (s *Store) blobPath(hex string) string  { return filepath.Join(s.root, "blobs", "sha256", hex) }
func (s *Store) layerPath(hex string) string { return filepath.Join(s.root, "layers", hex) }
func (s *Store) tmpDir() string              { return filepath.Join(s.root, "tmp") }

// commitLocked applies mutate to a copy of the index and persists it; the
// in-memory index is swapped only if the write succeeded. newContent makes
// it first flush the filesystem so blobs and extracted layers are durable
// before an index that references them; a single syncfs is far cheaper
// than fsyncing every extracted file. Callers hold mu.
func (s *Store) commitLocked(newContent bool, mutate func(ix *index) error) error {
	next := s.idx.clone()
	if err := mutate(next); err != nil {
		return err
	}
	if newContent {
		if err := syncFS(s.root); err != nil {
			return fmt.Errorf("sync image store: %w", err)
		}
	}
	if err := writeIndex(s.indexPath(), next); err != nil {
		return err
	}
	s.idx = next
	return nil
}

func syncFS(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// Get resolves ref (name, name:tag, full or short ID, "sha256:…").
func (s *Store) Get(ref string) (Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _, err := s.resolveLocked(ref)
	if err != nil {
		return Image{}, err
	}
	return s.imageLocked(id)
}

// List returns all images, newest first.
func (s *Store) List() ([]Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Image, 0, len(s.idx.Images))
	for id := range s.idx.Images {
		img, err := s.imageLocked(id)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	slices.SortFunc(out, func(a, b Image) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Tag points dst (normalized, default tag "latest") at the image src
// resolves to, moving dst if it already names another image.
func (s *Store) Tag(src, dst string) error {
	key, err := NormalizeTag(dst)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _, err := s.resolveLocked(src)
	if err != nil {
		return err
	}
	if s.idx.Tags[key] == id {
		return nil
	}
	return s.commitLocked(false, func(ix *index) error {
		ix.Tags[key] = id
		return nil
	})
}

// resolveLocked maps ref to an image ID; tagKey is set when ref matched a
// tag rather than an ID.
func (s *Store) resolveLocked(ref string) (id, tagKey string, err error) {
	if ref == "" {
		return "", "", invalidf("invalid reference format: empty reference")
	}
	if strings.HasPrefix(ref, digestPrefix) {
		if !isHex(hexOf(ref)) {
			return "", "", invalidf("invalid reference format: %q", ref)
		}
		id, err := s.searchIDLocked(ref)
		return id, "", err
	}
	key, parseErr := NormalizeTag(ref)
	if parseErr == nil {
		if id, ok := s.idx.Tags[key]; ok {
			return id, key, nil
		}
	}
	if isHex(ref) {
		id, err := s.searchIDLocked(ref)
		return id, "", err
	}
	if parseErr != nil && !isDigestRef(ref) {
		return "", "", parseErr
	}
	return "", "", notFoundImage(ref)
}

// searchIDLocked finds the single image whose ID starts with ref; an
// ambiguous prefix is reported as not found, as Docker does.
func (s *Store) searchIDLocked(ref string) (string, error) {
	prefix := digestPrefix + hexOf(ref)
	match := ""
	for id := range s.idx.Images {
		if strings.HasPrefix(id, prefix) {
			if match != "" {
				return "", notFoundImage(ref)
			}
			match = id
		}
	}
	if match == "" {
		return "", notFoundImage(ref)
	}
	return match, nil
}

func (s *Store) configLocked(id string) ([]byte, error) {
	if raw, ok := s.configs[id]; ok {
		return raw, nil
	}
	raw, err := os.ReadFile(s.blobPath(hexOf(id)))
	if err != nil {
		return nil, fmt.Errorf("read config of image %s: %w", id, err)
	}
	s.configs[id] = raw
	return raw, nil
}

// imageLocked decodes a fresh copy of the config so callers may mutate
// the returned Image freely.
func (s *Store) imageLocked(id string) (Image, error) {
	rec, ok := s.idx.Images[id]
	if !ok {
		return Image{}, notFoundImage(id)
	}
	raw, err := s.configLocked(id)
	if err != nil {
		return Image{}, err
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return Image{}, fmt.Errorf("decode config of image %s: %w", id, err)
	}
	img := Image{
		ID:           id,
		RepoTags:     s.idx.tagsOf(id),
		Size:         rec.Size,
		Config:       cfg.Config,
		Layers:       slices.Clone(rec.Layers),
		History:      cfg.History,
		Architecture: cfg.Architecture,
		OS:           cfg.OS,
	}
	if cfg.Created != nil {
		img.Created = *cfg.Created
	}
	return img, nil
}
