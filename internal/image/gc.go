package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	blobKey  = "blob:"
	layerKey = "layer:"
)

// leaseSet pins content written by one in-flight operation so a concurrent
// garbage collection cannot remove it before the index references it.
type leaseSet struct {
	s    *Store
	keys []string
}

func (s *Store) newLeases() *leaseSet { return &leaseSet{s: s} }

func (l *leaseSet) add(key string) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	l.addLocked(key)
}

func (l *leaseSet) addLocked(key string) {
	l.s.leases[key]++
	l.keys = append(l.keys, key)
}

func (l *leaseSet) release() {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	for _, k := range l.keys {
		if l.s.leases[k]--; l.s.leases[k] <= 0 {
			delete(l.s.leases, k)
		}
	}
	l.keys = nil
}

// finish releases the leases and, when the operation failed, collects what
// it left behind so a failed import leaves the store as it found it.
func (s *Store) finish(l *leaseSet, failed bool) {
	l.release()
	if !failed {
		return
	}
	if _, err := s.gc(); err != nil {
		s.logger.Warn("garbage collection after failed operation", "err", err)
	}
}

// gc removes blobs and layer directories that no image, container or
// in-flight operation references, and returns the removed layer chain IDs
// (hex). Victims are renamed into tmp/ under the lock (atomic, so a crash
// never leaves a half-deleted layer under its real name) and deleted after.
func (s *Store) gc() (map[string]bool, error) {
	s.mu.Lock()
	victims, removedLayers, err := s.collectGarbageLocked()
	s.mu.Unlock()
	for _, v := range victims {
		if rmErr := os.RemoveAll(v); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", v, rmErr))
		}
	}
	return removedLayers, err
}

func (s *Store) collectGarbageLocked() ([]string, map[string]bool, error) {
	keepBlobs := map[string]bool{}
	keepLayers, err := s.containerLayers()
	if err != nil {
		return nil, nil, err
	}
	for id, rec := range s.idx.Images {
		keepBlobs[hexOf(id)] = true
		for _, d := range rec.Layers {
			keepBlobs[hexOf(d)] = true
		}
		for _, c := range chainIDs(rec.Layers) {
			keepLayers[hexOf(c)] = true
		}
	}
	var victims []string
	removed := map[string]bool{}
	sweep := func(dir, leasePrefix string, keep map[string]bool, isLayer bool) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read %s: %w", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if keep[name] || s.leases[leasePrefix+name] > 0 {
				continue
			}
			dst, err := os.MkdirTemp(s.tmpDir(), "gc-")
			if err != nil {
				return fmt.Errorf("stage garbage: %w", err)
			}
			victims = append(victims, dst)
			if err := os.Rename(filepath.Join(dir, name), filepath.Join(dst, name)); err != nil {
				return fmt.Errorf("stage garbage %s: %w", name, err)
			}
			if isLayer {
				removed[name] = true
			}
		}
		return nil
	}
	if err := sweep(filepath.Join(s.root, "blobs", "sha256"), blobKey, keepBlobs, false); err != nil {
		return victims, removed, err
	}
	err = sweep(filepath.Join(s.root, "layers"), layerKey, keepLayers, true)
	return victims, removed, err
}

// containerLayers returns the layers recorded by every container rootfs,
// which keep them alive even after their image is force-deleted.
func (s *Store) containerLayers() (map[string]bool, error) {
	keep := map[string]bool{}
	dir := filepath.Join(s.root, "containers")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read containers dir: %w", err)
	}
	for _, e := range entries {
		rec, err := readContainerRecord(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			// An unreadable record must not cost other containers their
			// layers, so refuse to collect anything.
			return nil, err
		}
		for _, l := range rec.Layers {
			keep[hexOf(l)] = true
		}
	}
	return keep, nil
}
