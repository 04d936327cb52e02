package image

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const containerRecordFile = "layers.json"

// containerRecord pins a container's layers: it is written before the
// first mount and keeps them from garbage collection even if the image is
// force-deleted, until RemoveRootfs.
type containerRecord struct {
	ImageID string   `json:"imageID"`
	Layers  []string `json:"layers"` // chain IDs, bottom-most first
}

func readContainerRecord(dir string) (containerRecord, error) {
	var rec containerRecord
	data, err := os.ReadFile(filepath.Join(dir, containerRecordFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("parse container record %s: %w", dir, err)
	}
	return rec, nil
}

func validContainerID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 128 {
		return invalidf("invalid container ID %q", id)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return invalidf("invalid container ID %q", id)
		}
	}
	return nil
}

func (s *Store) containerDir(id string) string { return filepath.Join(s.root, "containers", id) }

// Mount returns containers/<id>/merged with an overlay of the image's
// layers (top-most first as lowerdir) under a per-container upper/work, so
// writes never touch shared layers. It is idempotent. The first call fixes
// the container's layers; later calls ignore imageID. The overlay options
// must fit in one page (4096 bytes) and each layer costs len(root)+73
// bytes, so a root like /var/lib/berth/image allows about 40 layers;
// deeper images fail to mount with an explicit error.
func (s *Store) Mount(ctx context.Context, imageID, containerID string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := validContainerID(containerID); err != nil {
		return "", err
	}
	s.mountMu.Lock()
	defer s.mountMu.Unlock()
	dir := s.containerDir(containerID)
	merged := filepath.Join(dir, "merged")
	rec, err := s.prepareContainer(imageID, containerID)
	if err != nil {
		return "", err
	}
	mounted, err := isMountpoint(merged)
	if err != nil || mounted {
		return merged, err
	}
	opts, err := s.overlayOptions(dir, rec)
	if err != nil {
		return "", err
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount rootfs of container %s: %w", containerID, err)
	}
	s.logger.Debug("mounted container rootfs", "container", containerID, "layers", len(rec.Layers))
	return merged, nil
}

// prepareContainer creates the container directories and record on first
// use, under mu so that gc sees the record before layers could go away.
func (s *Store) prepareContainer(imageRef, containerID string) (containerRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.containerDir(containerID)
	rec, err := readContainerRecord(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rec, err
	}
	if err != nil {
		id, _, rerr := s.resolveLocked(imageRef)
		if rerr != nil {
			return rec, rerr
		}
		rec = containerRecord{ImageID: id, Layers: chainIDs(s.idx.Images[id].Layers)}
		if err := createContainerDirs(dir, rec); err != nil {
			return rec, err
		}
	}
	for _, l := range rec.Layers {
		if ok, err := exists(s.layerPath(hexOf(l))); err != nil || !ok {
			return rec, notFoundf("layer %s of container %s is missing: %v", l, containerID, err)
		}
	}
	return rec, nil
}

func createContainerDirs(dir string, rec containerRecord) error {
	for _, sub := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("create container rootfs: %w", err)
		}
	}
	// The upper dir's root becomes "/" of the container.
	if err := os.Chmod(filepath.Join(dir, "upper"), 0o755); err != nil {
		return fmt.Errorf("create container rootfs: %w", err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode container record: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, containerRecordFile), data, 0o600); err != nil {
		return fmt.Errorf("write container record: %w", err)
	}
	return nil
}

func (s *Store) overlayOptions(dir string, rec containerRecord) (string, error) {
	lowers := make([]string, 0, len(rec.Layers))
	for i := len(rec.Layers) - 1; i >= 0; i-- {
		lowers = append(lowers, s.layerPath(hexOf(rec.Layers[i])))
	}
	if len(lowers) == 0 {
		// overlay needs a lowerdir even for an image without layers.
		empty := filepath.Join(dir, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", fmt.Errorf("create empty lower dir: %w", err)
		}
		lowers = append(lowers, empty)
	}
	if strings.ContainsAny(dir, ",:") {
		return "", invalidf("image store path %q contains ',' or ':' which overlay options cannot express", dir)
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") +
		",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if limit := os.Getpagesize() - 1; len(opts) > limit {
		return "", fmt.Errorf("image has too many layers (%d) to mount: overlay options are %d bytes, limit %d", len(rec.Layers), len(opts), limit)
	}
	return opts, nil
}

// Unmount detaches the container rootfs, keeping its upper dir (the
// container's changes) for a later Mount.
func (s *Store) Unmount(containerID string) error {
	if err := validContainerID(containerID); err != nil {
		return err
	}
	s.mountMu.Lock()
	defer s.mountMu.Unlock()
	return s.unmountLocked(containerID)
}

func (s *Store) unmountLocked(containerID string) error {
	merged := filepath.Join(s.containerDir(containerID), "merged")
	// Loop because a racing external mount may have stacked another one.
	for range 8 {
		mounted, err := isMountpoint(merged)
		if err != nil || !mounted {
			return err
		}
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount rootfs of container %s: %w", containerID, err)
		}
	}
	return fmt.Errorf("unmount rootfs of container %s: still mounted", containerID)
}

// RemoveRootfs unmounts and deletes the container's directory, then
// collects layers only it was keeping alive.
func (s *Store) RemoveRootfs(containerID string) error {
	if err := validContainerID(containerID); err != nil {
		return err
	}
	s.mountMu.Lock()
	defer s.mountMu.Unlock()
	if err := s.unmountLocked(containerID); err != nil {
		return err
	}
	dir := s.containerDir(containerID)
	if ok, err := exists(dir); err != nil || !ok {
		return err
	}
	// Rename first so a crash cannot leave a half-deleted container record.
	trash, err := os.MkdirTemp(s.tmpDir(), "rm-")
	if err != nil {
		return fmt.Errorf("remove rootfs of container %s: %w", containerID, err)
	}
	s.mu.Lock()
	err = os.Rename(dir, filepath.Join(trash, containerID))
	s.mu.Unlock()
	if err != nil {
		_ = os.Remove(trash)
		return fmt.Errorf("remove rootfs of container %s: %w", containerID, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove rootfs of container %s: %w", containerID, err)
	}
	if _, err := s.gc(); err != nil {
		s.logger.Warn("garbage collection after rootfs removal", "container", containerID, "err", err)
	}
	return nil
}

// isMountpoint asks statx whether p is the root of a mount: one syscall,
// where reading mountinfo grows with every container's mounts. Kernels
// before 5.8 do not report it; then mountinfo is consulted (device numbers
// cannot detect bind mounts within one filesystem).
func isMountpoint(p string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, 0, &stx); err == nil &&
		stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	return inMountinfo(p)
}

func inMountinfo(p string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == p {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read mountinfo: %w", err)
	}
	return false, nil
}

// unescapeMountinfo decodes the octal escapes (\040 etc.) the kernel uses
// for whitespace and backslashes in mount points.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
