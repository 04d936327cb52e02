package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type saveItem struct {
	id     string
	tags   []string
	layers []string
}

// saveBlob is one blobs/sha256 entry: small documents in memory, layers
// streamed from the store.
type saveBlob struct {
	data []byte
	path string
	size int64
}

type saveArchive struct {
	blobs    map[string]saveBlob
	manifest []dockerManifestItem
	index    ocispec.Index
	repos    map[string]map[string]string
}

// Save writes refs (names, name:tag, IDs) as one archive in the Docker 25+
// `docker save` layout: blobs/sha256 (uncompressed layers, configs, OCI
// manifests), index.json + oci-layout, and the legacy manifest.json +
// repositories that older `docker load` and Store.Load read. A name without
// a tag saves every tag of that repository; an ID saves the image untagged.
func (s *Store) Save(ctx context.Context, refs []string, w io.Writer) error {
	leases := s.newLeases()
	defer leases.release()
	items, err := s.selectForSave(refs, leases)
	if err != nil {
		return err
	}
	arch, err := s.buildSaveArchive(items)
	if err != nil {
		return err
	}
	return arch.write(ctx, w)
}

// selectForSave resolves refs and leases their content so a concurrent
// Delete cannot remove blobs while they are streamed out.
func (s *Store) selectForSave(refs []string, leases *leaseSet) ([]saveItem, error) {
	if len(refs) == 0 {
		return nil, invalidf("no images specified")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []saveItem
	pos := map[string]int{}
	add := func(id string, tags ...string) {
		i, ok := pos[id]
		if !ok {
			layers := slices.Clone(s.idx.Images[id].Layers)
			leases.addLocked(blobKey + hexOf(id))
			for _, l := range layers {
				leases.addLocked(blobKey + hexOf(l))
			}
			i, pos[id] = len(items), len(items)
			items = append(items, saveItem{id: id, layers: layers})
		}
		items[i].tags = appendUnique(items[i].tags, tags...)
	}
	for _, ref := range refs {
		if repo, ok := nameOnly(ref); ok && s.addRepoTagsLocked(repo, add) {
			continue
		}
		id, tagKey, err := s.resolveLocked(ref)
		if err != nil {
			return nil, err
		}
		if tagKey != "" {
			add(id, tagKey)
		} else {
			add(id)
		}
	}
	return items, nil
}

func (s *Store) addRepoTagsLocked(repo string, add func(id string, tags ...string)) bool {
	var keys []string
	for t := range s.idx.Tags {
		if repoName(t) == repo {
			keys = append(keys, t)
		}
	}
	slices.Sort(keys)
	for _, t := range keys {
		add(s.idx.Tags[t], t)
	}
	return len(keys) > 0
}

func (s *Store) buildSaveArchive(items []saveItem) (*saveArchive, error) {
	a := &saveArchive{
		blobs: map[string]saveBlob{},
		index: ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex},
		repos: map[string]map[string]string{},
	}
	for _, it := range items {
		if err := s.addSaveItem(a, it); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (s *Store) addSaveItem(a *saveArchive, it saveItem) error {
	cfgRaw, err := os.ReadFile(s.blobPath(hexOf(it.id)))
	if err != nil {
		return fmt.Errorf("read config of image %s: %w", it.id, err)
	}
	a.blobs[hexOf(it.id)] = saveBlob{data: cfgRaw, size: int64(len(cfgRaw))}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.Digest(it.id), Size: int64(len(cfgRaw))},
		Layers:    []ocispec.Descriptor{},
	}
	item := dockerManifestItem{Config: archiveBlobPath(digest.Digest(it.id)), RepoTags: []string{}, Layers: []string{}}
	for _, l := range it.layers {
		size, err := s.blobSize(hexOf(l))
		if err != nil {
			return err
		}
		a.blobs[hexOf(l)] = saveBlob{path: s.blobPath(hexOf(l)), size: size}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.Digest(l), Size: size})
		item.Layers = append(item.Layers, archiveBlobPath(digest.Digest(l)))
	}
	mRaw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mRaw), Size: int64(len(mRaw))}
	a.blobs[mDesc.Digest.Encoded()] = saveBlob{data: mRaw, size: mDesc.Size}
	if len(it.tags) == 0 {
		a.index.Manifests = append(a.index.Manifests, mDesc)
	}
	for _, t := range it.tags {
		d := mDesc
		d.Annotations = map[string]string{annotationContainerdName: fullTagName(t), ocispec.AnnotationRefName: tagOf(t)}
		a.index.Manifests = append(a.index.Manifests, d)
		item.RepoTags = append(item.RepoTags, t)
		if len(it.layers) > 0 {
			repo := repoName(t)
			if a.repos[repo] == nil {
				a.repos[repo] = map[string]string{}
			}
			a.repos[repo][tagOf(t)] = hexOf(it.layers[len(it.layers)-1])
		}
	}
	a.manifest = append(a.manifest, item)
	return nil
}

type archiveDoc struct {
	name string
	v    any
}

// write emits entries in sorted order with fixed timestamps so saving the
// same images twice yields identical archives.
func (a *saveArchive) write(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	for _, h := range slices.Sorted(maps.Keys(a.blobs)) {
		if err := writeSaveBlob(ctx, tw, "blobs/sha256/"+h, a.blobs[h]); err != nil {
			return err
		}
	}
	docs := []archiveDoc{
		{"index.json", a.index},
		{"manifest.json", a.manifest},
		{ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}},
	}
	if len(a.repos) > 0 {
		docs = append(docs, archiveDoc{"repositories", a.repos})
	}
	for _, d := range docs {
		raw, err := json.Marshal(d.v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", d.name, err)
		}
		if err := writeSaveBlob(ctx, tw, d.name, saveBlob{data: raw, size: int64(len(raw))}); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

func writeSaveBlob(ctx context.Context, tw *tar.Writer, name string, b saveBlob) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: b.size, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if b.path == "" {
		if _, err := tw.Write(b.data); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		return nil
	}
	f, err := os.Open(b.path)
	if err != nil {
		return fmt.Errorf("open blob %s: %w", name, err)
	}
	defer f.Close()
	if _, err := io.Copy(tw, ctxReader{ctx: ctx, r: f}); err != nil {
		return fmt.Errorf("write %s to archive: %w", name, err)
	}
	return nil
}
