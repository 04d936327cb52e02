package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)

// maxMetadata bounds manifests, indexes and configs read into memory.
const maxMetadata = 32 << 20

// stagedImage is an image whose content is stored but not yet visible.
type stagedImage struct {
	id   string
	rec  imageRecord
	tags []string
}

// layerSource locates one layer inside an unpacked archive; digest is the
// expected digest of the file as stored (OCI), empty when unknown.
type layerSource struct {
	path   string
	digest string
}

// Load imports a `docker save` archive (manifest.json; legacy layer.tar or
// Docker 25+ blobs/sha256 layout) or an OCI image layout archive
// (index.json), either optionally gzip-compressed, with gzip-compressed or
// plain layers. It returns Docker's progress lines: "Loaded image: <tag>"
// per tag, "Loaded image ID: <id>" for untagged images, preceded by
// "The image … already exists, renaming the old one …" when a tag moves.
// Nothing becomes visible unless the whole archive loads.
func (s *Store) Load(ctx context.Context, r io.Reader) (out []string, err error) {
	leases := s.newLeases()
	defer func() { s.finish(leases, err != nil) }()
	dir, err := os.MkdirTemp(s.tmpDir(), "load-")
	if err != nil {
		return nil, fmt.Errorf("stage archive: %w", err)
	}
	defer os.RemoveAll(dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("stage archive: %w", err)
	}
	defer root.Close()
	if err := unpackArchive(ctx, r, root); err != nil {
		return nil, err
	}
	var staged []stagedImage
	switch {
	case rootHas(root, "manifest.json"):
		staged, err = s.stageDocker(ctx, leases, root)
	case rootHas(root, "index.json"):
		staged, err = s.stageOCI(ctx, leases, root)
	default:
		err = invalidf("invalid archive: neither manifest.json nor index.json found")
	}
	if err != nil {
		return nil, err
	}
	return s.commitLoaded(staged)
}

func rootHas(root *os.Root, name string) bool {
	_, err := root.Stat(name)
	return err == nil
}

// unpackArchive spools the archive to disk because its members may come in
// any order. os.Root confines every write, including through symlinks.
func unpackArchive(ctx context.Context, r io.Reader, root *os.Root) error {
	dr, err := decompress(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(ctxReader{ctx: ctx, r: dr})
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return invalidf("invalid archive: %w", err)
		}
		if err := unpackEntry(root, hdr, tr); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return err
		}
	}
}

func unpackEntry(root *os.Root, hdr *tar.Header, r io.Reader) error {
	name, err := cleanRel(hdr.Name)
	if err != nil || name == "." {
		return err
	}
	if hdr.Typeflag != tar.TypeDir {
		if err := root.MkdirAll(path.Dir(name), 0o700); err != nil {
			return invalidf("invalid archive entry %q: %w", hdr.Name, err)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = root.MkdirAll(name, 0o700)
	case tar.TypeReg:
		var f *os.File
		if f, err = root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
			_, err = io.Copy(f, r)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	case tar.TypeSymlink:
		err = root.Symlink(hdr.Linkname, name)
	case tar.TypeLink:
		var target string
		if target, err = cleanRel(hdr.Linkname); err == nil {
			err = root.Link(target, name)
		}
	}
	if err != nil {
		return invalidf("invalid archive entry %q: %w", hdr.Name, err)
	}
	return nil
}

func readRootFile(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, invalidf("invalid archive: %s: %w", name, err)
	}
	defer f.Close()
	return readLimited(f, maxMetadata, name)
}

// dockerManifestItem is one entry of docker save's manifest.json.
type dockerManifestItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (s *Store) stageDocker(ctx context.Context, leases *leaseSet, root *os.Root) ([]stagedImage, error) {
	data, err := readRootFile(root, "manifest.json")
	if err != nil {
		return nil, err
	}
	var items []dockerManifestItem
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, invalidf("invalid archive: manifest.json: %w", err)
	}
	if len(items) == 0 {
		return nil, invalidf("invalid archive: manifest.json lists no images")
	}
	var out []stagedImage
	for _, it := range items {
		cfgRaw, err := readRootFile(root, it.Config)
		if err != nil {
			return nil, err
		}
		srcs := make([]layerSource, len(it.Layers))
		for i, p := range it.Layers {
			srcs[i] = layerSource{path: p}
		}
		st, err := s.stageImage(ctx, leases, root, cfgRaw, "", srcs)
		if err != nil {
			return nil, err
		}
		for _, t := range it.RepoTags {
			key, err := NormalizeTag(t)
			if err != nil {
				return nil, err
			}
			st.tags = append(st.tags, key)
		}
		out = append(out, st)
	}
	return out, nil
}

// stageImage stores the config and every layer of one image. wantID, when
// set, is the config digest the referring manifest promised.
func (s *Store) stageImage(ctx context.Context, leases *leaseSet, root *os.Root, cfgRaw []byte, wantID string, srcs []layerSource) (stagedImage, error) {
	id := digest.FromBytes(cfgRaw).String()
	if wantID != "" && wantID != id {
		return stagedImage{}, invalidf("invalid archive: config digest mismatch: want %s, got %s", wantID, id)
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
		return stagedImage{}, invalidf("invalid archive: image config %s: %w", id, err)
	}
	diffs := make([]string, len(cfg.RootFS.DiffIDs))
	for i, d := range cfg.RootFS.DiffIDs {
		if d.Algorithm() != digest.SHA256 || d.Validate() != nil {
			return stagedImage{}, invalidf("invalid archive: image %s: unsupported diffID %q", id, d)
		}
		diffs[i] = d.String()
	}
	if len(diffs) != len(srcs) {
		return stagedImage{}, invalidf("invalid archive: image %s has %d layers but config lists %d diffIDs", id, len(srcs), len(diffs))
	}
	var size int64
	for i, chain := range chainIDs(diffs) {
		n, err := s.stageLayer(ctx, leases, root, srcs[i], diffs[i], chain)
		if err != nil {
			return stagedImage{}, err
		}
		size += n
	}
	if _, err := s.writeBlobBytes(ctx, leases, cfgRaw); err != nil {
		return stagedImage{}, err
	}
	return stagedImage{id: id, rec: imageRecord{Layers: diffs, Size: size, Added: time.Now().UTC()}}, nil
}

// stageLayer stores and extracts one layer, verifying both the stored
// digest (when known) and the uncompressed diffID the config promises.
func (s *Store) stageLayer(ctx context.Context, leases *leaseSet, root *os.Root, src layerSource, diffID, chainID string) (int64, error) {
	diffHex, chainHex := hexOf(diffID), hexOf(chainID)
	if !s.haveBlob(leases, diffHex) {
		if err := s.importLayerBlob(ctx, leases, root, src, diffHex); err != nil {
			return 0, err
		}
	}
	if err := s.ensureLayer(ctx, leases, diffHex, chainHex); err != nil {
		return 0, err
	}
	return s.blobSize(diffHex)
}

func (s *Store) importLayerBlob(ctx context.Context, leases *leaseSet, root *os.Root, src layerSource, diffHex string) error {
	f, err := root.Open(src.path)
	if err != nil {
		return invalidf("invalid archive: layer %s: %w", src.path, err)
	}
	defer f.Close()
	h := sha256.New()
	tee := io.TeeReader(f, h)
	dr, err := decompress(tee)
	if err != nil {
		return err
	}
	got, _, err := s.writeBlob(ctx, leases, corruptReader{r: dr, what: src.path})
	if err != nil {
		return err
	}
	if got != diffHex {
		return invalidf("invalid archive: layer %s: diffID mismatch: config says sha256:%s, content is sha256:%s", src.path, diffHex, got)
	}
	if src.digest == "" {
		return nil
	}
	// Hash what the decompressor left unread so the digest covers the file.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("read layer %s: %w", src.path, err)
	}
	if sum := digestPrefix + hex.EncodeToString(h.Sum(nil)); sum != src.digest {
		return invalidf("invalid archive: layer %s: digest mismatch: want %s, got %s", src.path, src.digest, sum)
	}
	return nil
}

// commitLoaded makes all staged images visible in one index write.
func (s *Store) commitLoaded(staged []stagedImage) ([]string, error) {
	var merged []stagedImage
	pos := map[string]int{}
	for _, st := range staged {
		if i, ok := pos[st.id]; ok {
			merged[i].tags = appendUnique(merged[i].tags, st.tags...)
			continue
		}
		pos[st.id] = len(merged)
		st.tags = appendUnique(nil, st.tags...)
		merged = append(merged, st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	err := s.commitLocked(true, func(ix *index) error {
		out = nil
		for _, st := range merged {
			if old, ok := ix.Images[st.id]; ok {
				st.rec.Added = old.Added
			}
			ix.Images[st.id] = st.rec
			if len(st.tags) == 0 {
				out = append(out, "Loaded image ID: "+st.id)
			}
			for _, t := range st.tags {
				if prev, ok := ix.Tags[t]; ok && prev != st.id {
					out = append(out, fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", t, prev))
				}
				ix.Tags[t] = st.id
				out = append(out, "Loaded image: "+t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.logger.Info("loaded images", "count", len(merged))
	return out, nil
}

// corruptReader classifies read failures (bad gzip, truncated file) as
// invalid input, so they are not confused with local disk errors.
type corruptReader struct {
	r    io.Reader
	what string
}

func (c corruptReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = invalidf("invalid archive: layer %s: %w", c.what, err)
	}
	return n, err
}

func appendUnique(dst []string, items ...string) []string {
	for _, it := range items {
		dup := false
		for _, d := range dst {
			dup = dup || d == it
		}
		if !dup {
			dst = append(dst, it)
		}
	}
	return dst
}
