package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// chainIDs computes the OCI ChainID of every prefix of diffIDs. Layer
// directories are keyed by ChainID so their names match the layer IDs
// Docker reports when deleting images.
func chainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = digestPrefix + hex.EncodeToString(sum[:])
	}
	return out
}

// ensureLayer extracts the stored blob diffHex into layers/<chainHex>
// unless that directory already exists. Extraction happens in tmp/ and is
// renamed into place, so an existing layer directory is always complete.
func (s *Store) ensureLayer(ctx context.Context, leases *leaseSet, diffHex, chainHex string) error {
	leases.add(layerKey + chainHex)
	dst := s.layerPath(chainHex)
	ok, err := exists(dst)
	if err != nil || ok {
		return err
	}
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-")
	if err != nil {
		return fmt.Errorf("stage layer: %w", err)
	}
	defer os.RemoveAll(tmp)
	// MkdirTemp creates 0700; a layer root is a filesystem root.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("stage layer: %w", err)
	}
	f, err := os.Open(s.blobPath(diffHex))
	if err != nil {
		return fmt.Errorf("open layer blob: %w", err)
	}
	defer f.Close()
	if err := extractLayer(ctx, f, tmp); err != nil {
		return fmt.Errorf("extract layer sha256:%s: %w", diffHex, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		// A concurrent extraction of the same layer won the race.
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return nil
		}
		return fmt.Errorf("commit layer sha256:%s: %w", chainHex, err)
	}
	s.logger.Debug("extracted layer", "diffID", diffHex, "chainID", chainHex)
	return nil
}
