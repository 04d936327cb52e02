package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const indexVersion = 1

// imageRecord is what the index keeps per image; everything else lives in
// the immutable config blob.
type imageRecord struct {
	Layers []string  `json:"layers"` // diffIDs, bottom-most first
	Size   int64     `json:"size"`   // sum of uncompressed layer sizes
	Added  time.Time `json:"added"`
}

// index is the whole mutable state of the store. It is replaced as a unit
// (copy, mutate, persist, swap) so memory and disk never disagree.
type index struct {
	Version int                    `json:"version"`
	Images  map[string]imageRecord `json:"images"`
	Tags    map[string]string      `json:"tags"` // "busybox:latest" → image ID
}

func newIndex() *index {
	return &index{Version: indexVersion, Images: map[string]imageRecord{}, Tags: map[string]string{}}
}

func (ix *index) clone() *index {
	c := &index{Version: ix.Version, Images: maps.Clone(ix.Images), Tags: maps.Clone(ix.Tags)}
	if c.Images == nil {
		c.Images = map[string]imageRecord{}
	}
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	return c
}

// tagsOf returns the sorted tags pointing at id.
func (ix *index) tagsOf(id string) []string {
	var tags []string
	for t, tid := range ix.Tags {
		if tid == id {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return tags
}

func readIndex(path string) (*index, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newIndex(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	ix := newIndex()
	if err := json.Unmarshal(data, ix); err != nil {
		return nil, fmt.Errorf("parse image index %s: %w", path, err)
	}
	if ix.Version != indexVersion {
		return nil, fmt.Errorf("image index %s: unsupported version %d", path, ix.Version)
	}
	return ix.clone(), nil
}

func writeIndex(path string, ix *index) error {
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image index: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path so that a crash at any point leaves either
// the old or the new content, never a mix: the data is fsynced in a temp
// file in the same directory, renamed over path, and the directory fsynced
// so the rename itself is durable.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
