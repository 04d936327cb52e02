package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ctxReader makes long copies abandon promptly when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeBlob stores the content of r under its sha256 and returns the hex
// digest and size. The blob is leased before it becomes visible so a
// concurrent gc cannot remove it before the caller commits.
func (s *Store) writeBlob(ctx context.Context, leases *leaseSet, r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(s.tmpDir(), "blob-")
	if err != nil {
		return "", 0, fmt.Errorf("create blob: %w", err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	leases.add(blobKey + sum)
	dst := s.blobPath(sum)
	if _, err := os.Stat(dst); err == nil {
		return sum, n, nil
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", 0, fmt.Errorf("commit blob %s: %w", sum, err)
	}
	return sum, n, nil
}

func (s *Store) writeBlobBytes(ctx context.Context, leases *leaseSet, data []byte) (string, error) {
	sum, _, err := s.writeBlob(ctx, leases, bytes.NewReader(data))
	return sum, err
}

// haveBlob leases hex and reports whether it is already stored; leasing
// first means the answer cannot be invalidated by a concurrent gc.
func (s *Store) haveBlob(leases *leaseSet, hex string) bool {
	leases.add(blobKey + hex)
	_, err := os.Stat(s.blobPath(hex))
	return err == nil
}

func (s *Store) blobSize(hex string) (int64, error) {
	fi, err := os.Stat(s.blobPath(hex))
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", hex, err)
	}
	return fi.Size(), nil
}

// readLimited reads a small metadata file, refusing oversized input so a
// hostile archive cannot exhaust memory.
func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, invalidf("%s is larger than %d bytes", what, limit)
	}
	return data, nil
}

// decompress sniffs the stream and transparently undoes gzip or bzip2,
// so layers and whole archives may arrive compressed or not.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(10)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read stream header: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, invalidf("invalid gzip stream: %w", err)
		}
		return zr, nil
	case isBzip2(magic):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, invalidf("zstd-compressed content is not supported")
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, invalidf("xz-compressed content is not supported")
	}
	return br, nil
}

// isBzip2 also checks the block magic because a bare "BZh" could just be
// the first file name of an uncompressed tar.
func isBzip2(m []byte) bool {
	if len(m) < 10 || !bytes.HasPrefix(m, []byte("BZh")) || m[3] < '1' || m[3] > '9' {
		return false
	}
	block := m[4:10]
	return bytes.Equal(block, []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}) ||
		bytes.Equal(block, []byte{0x17, 0x72, 0x45, 0x38, 0x50, 0x90})
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
