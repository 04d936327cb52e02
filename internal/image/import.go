package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import creates a single-layer image from a rootfs tarball (optionally
// gzip- or bzip2-compressed), like `docker import`. ref "" leaves the image
// untagged; changes are Dockerfile-style (see ParseChanges); message is
// recorded as the history comment.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, changes []string, message string) (img Image, err error) {
	tagKey := ""
	if ref != "" {
		if tagKey, err = NormalizeTag(ref); err != nil {
			return Image{}, err
		}
	}
	cfg, err := ParseChanges(dockerspec.DockerOCIImageConfig{}, changes)
	if err != nil {
		return Image{}, err
	}
	leases := s.newLeases()
	defer func() { s.finish(leases, err != nil) }()

	dr, err := decompress(r)
	if err != nil {
		return Image{}, err
	}
	diffHex, size, err := s.writeBlob(ctx, leases, dr)
	if err != nil {
		return Image{}, err
	}
	if err := s.ensureLayer(ctx, leases, diffHex, diffHex); err != nil {
		return Image{}, err
	}
	raw, err := importConfig(cfg, digestPrefix+diffHex, message)
	if err != nil {
		return Image{}, err
	}
	cfgHex, err := s.writeBlobBytes(ctx, leases, raw)
	if err != nil {
		return Image{}, err
	}
	id := digestPrefix + cfgHex
	rec := imageRecord{Layers: []string{digestPrefix + diffHex}, Size: size, Added: time.Now().UTC()}

	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.commitLocked(true, func(ix *index) error {
		ix.Images[id] = rec
		if tagKey != "" {
			ix.Tags[tagKey] = id
		}
		return nil
	})
	if err != nil {
		return Image{}, err
	}
	s.logger.Info("imported image", "id", id, "ref", tagKey, "size", size)
	return s.imageLocked(id)
}

func importConfig(cfg dockerspec.DockerOCIImageConfig, diffID, message string) ([]byte, error) {
	created := time.Now().UTC()
	img := dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Created:  &created,
			Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest(diffID)}},
			History:  []ocispec.History{{Created: &created, Comment: message}},
		},
		Config: cfg,
	}
	raw, err := json.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("encode image config: %w", err)
	}
	return raw, nil
}
