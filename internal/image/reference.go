package image

import (
	"strings"

	"github.com/distribution/reference"
)

const digestPrefix = "sha256:"

// NormalizeTag turns a user-supplied image name into the familiar
// "name:tag" form used as the key in the tag index, e.g.
// "docker.io/library/busybox" → "busybox:latest".
func NormalizeTag(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", invalidf("invalid reference format %q: %w", ref, err)
	}
	if _, ok := named.(reference.Canonical); ok {
		return "", invalidf("invalid reference %q: digest references cannot be used as tags", ref)
	}
	// "sha256:<x>" must keep meaning an ID, so the name cannot be a tag.
	if reference.FamiliarName(named) == "sha256" {
		return "", invalidf("invalid reference %q: refusing to create an ambiguous tag using digest algorithm as name", ref)
	}
	return reference.FamiliarString(reference.TagNameOnly(named)), nil
}

// isDigestRef reports whether ref is a well-formed name@digest reference;
// the store does not track repository digests, so these never match.
func isDigestRef(ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	_, ok := named.(reference.Canonical)
	return ok
}

// repoName returns the familiar repository name of a normalized tag key
// ("busybox:latest" → "busybox").
func repoName(tagKey string) string {
	named, err := reference.ParseNormalizedNamed(tagKey)
	if err != nil {
		return tagKey
	}
	return reference.FamiliarName(named)
}

// nameOnly reports whether ref names a repository without a tag or digest.
func nameOnly(ref string) (string, bool) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil || !reference.IsNameOnly(named) {
		return "", false
	}
	return reference.FamiliarName(named), true
}

// fullTagName is the fully-qualified form ("docker.io/library/busybox:latest")
// that containerd-style OCI archives store in io.containerd.image.name.
func fullTagName(tagKey string) string {
	named, err := reference.ParseNormalizedNamed(tagKey)
	if err != nil {
		return tagKey
	}
	return reference.TagNameOnly(named).String()
}

// tagOf returns the tag part of a normalized tag key.
func tagOf(tagKey string) string {
	named, err := reference.ParseNormalizedNamed(tagKey)
	if err != nil {
		return "latest"
	}
	if tagged, ok := reference.TagNameOnly(named).(reference.Tagged); ok {
		return tagged.Tag()
	}
	return "latest"
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isFullHex(s string) bool { return len(s) == 64 && isHex(s) }

// hexOf strips the "sha256:" prefix from a digest.
func hexOf(d string) string { return strings.TrimPrefix(d, digestPrefix) }

// ShortID is Docker's 12-character truncated form of an ID.
func ShortID(id string) string {
	h := hexOf(id)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// isIDPrefix reports whether ref addresses id by (possibly prefixed) ID
// rather than by name, mirroring Docker's rule for rmi.
func isIDPrefix(id, ref string) bool {
	h := hexOf(ref)
	return isHex(h) && strings.HasPrefix(hexOf(id), h)
}
