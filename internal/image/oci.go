package image

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	annotationContainerdName = "io.containerd.image.name"
	mediaTypeDockerManifest  = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList      = "application/vnd.docker.distribution.manifest.list.v2+json"
	maxIndexDepth            = 4
)

func (s *Store) stageOCI(ctx context.Context, leases *leaseSet, root *os.Root) ([]stagedImage, error) {
	if rootHas(root, ocispec.ImageLayoutFile) {
		raw, err := readRootFile(root, ocispec.ImageLayoutFile)
		if err != nil {
			return nil, err
		}
		var layout ocispec.ImageLayout
		if err := json.Unmarshal(raw, &layout); err != nil || layout.Version != ocispec.ImageLayoutVersion {
			return nil, invalidf("invalid archive: unsupported oci-layout %q", raw)
		}
	}
	raw, err := readRootFile(root, ocispec.ImageIndexFile)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, invalidf("invalid archive: index.json: %w", err)
	}
	if len(idx.Manifests) == 0 {
		return nil, invalidf("invalid archive: index.json lists no manifests")
	}
	var out []stagedImage
	for _, desc := range idx.Manifests {
		st, err := s.stageOCIDescriptor(ctx, leases, root, desc, 0)
		if err != nil {
			return nil, err
		}
		if st.tags, err = ociNames(desc.Annotations); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// ociNames picks the image name from index annotations. A bare
// org.opencontainers.image.ref.name such as "latest" names only a tag, so
// it is used only when it looks like a full reference.
func ociNames(ann map[string]string) ([]string, error) {
	name := ann[annotationContainerdName]
	if ref := ann[ocispec.AnnotationRefName]; name == "" && strings.ContainsAny(ref, ":/") {
		name = ref
	}
	if name == "" {
		return nil, nil
	}
	key, err := NormalizeTag(name)
	if err != nil {
		return nil, err
	}
	return []string{key}, nil
}

func (s *Store) stageOCIDescriptor(ctx context.Context, leases *leaseSet, root *os.Root, desc ocispec.Descriptor, depth int) (stagedImage, error) {
	if depth > maxIndexDepth {
		return stagedImage{}, invalidf("invalid archive: indexes nested too deeply")
	}
	raw, err := readArchiveBlob(root, desc)
	if err != nil {
		return stagedImage{}, err
	}
	switch mediaTypeOf(desc, raw) {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerList:
		var sub ocispec.Index
		if err := json.Unmarshal(raw, &sub); err != nil {
			return stagedImage{}, invalidf("invalid archive: index %s: %w", desc.Digest, err)
		}
		pick, err := pickPlatform(sub.Manifests)
		if err != nil {
			return stagedImage{}, err
		}
		return s.stageOCIDescriptor(ctx, leases, root, pick, depth+1)
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		var m ocispec.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return stagedImage{}, invalidf("invalid archive: manifest %s: %w", desc.Digest, err)
		}
		cfgRaw, err := readArchiveBlob(root, m.Config)
		if err != nil {
			return stagedImage{}, err
		}
		srcs := make([]layerSource, len(m.Layers))
		for i, l := range m.Layers {
			if err := checkDigest(l.Digest); err != nil {
				return stagedImage{}, err
			}
			srcs[i] = layerSource{path: archiveBlobPath(l.Digest), digest: l.Digest.String()}
		}
		return s.stageImage(ctx, leases, root, cfgRaw, m.Config.Digest.String(), srcs)
	default:
		return stagedImage{}, invalidf("invalid archive: unsupported media type %q for %s", desc.MediaType, desc.Digest)
	}
}

// mediaTypeOf falls back to the document's own mediaType field, and then
// to its shape, because older tools leave descriptors untyped.
func mediaTypeOf(desc ocispec.Descriptor, raw []byte) string {
	if desc.MediaType != "" {
		return desc.MediaType
	}
	var probe struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	}
	return ocispec.MediaTypeImageManifest
}

// pickPlatform chooses the linux manifest for this machine's architecture,
// ignoring attestation entries (platform unknown/unknown). A lone manifest
// is taken whatever its platform, as docker load does.
func pickPlatform(manifests []ocispec.Descriptor) (ocispec.Descriptor, error) {
	var candidates []ocispec.Descriptor
	for _, m := range manifests {
		p := m.Platform
		if p != nil && (p.OS == "unknown" || p.Architecture == "unknown") {
			continue
		}
		if p != nil && (p.OS == "" || p.OS == "linux") && p.Architecture == runtime.GOARCH {
			return m, nil
		}
		candidates = append(candidates, m)
	}
	if len(candidates) == 1 {
		return candidates[0], nil
	}
	return ocispec.Descriptor{}, invalidf("invalid archive: no image for linux/%s in index", runtime.GOARCH)
}

func checkDigest(d digest.Digest) error {
	if d.Validate() != nil || d.Algorithm() != digest.SHA256 {
		return invalidf("invalid archive: unsupported digest %q", d)
	}
	return nil
}

func archiveBlobPath(d digest.Digest) string {
	return ocispec.ImageBlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}

// readArchiveBlob reads a small blob and verifies it against desc.
func readArchiveBlob(root *os.Root, desc ocispec.Descriptor) ([]byte, error) {
	if err := checkDigest(desc.Digest); err != nil {
		return nil, err
	}
	raw, err := readRootFile(root, archiveBlobPath(desc.Digest))
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(raw); got != desc.Digest {
		return nil, invalidf("invalid archive: blob %s has digest %s", desc.Digest, got)
	}
	if desc.Size > 0 && int64(len(raw)) != desc.Size {
		return nil, invalidf("invalid archive: blob %s has size %d, want %d", desc.Digest, len(raw), desc.Size)
	}
	return raw, nil
}
