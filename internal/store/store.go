// Package store persists berth's metadata (containers, networks) in an
// embedded bbolt database under the data root. Every write is one
// transaction, so a SIGKILL at any moment leaves either the old or the new
// record, never a torn one.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets used by the daemon.
const (
	Containers = "containers"
	Networks   = "networks"
)

// ErrLocked is returned when another process holds the database.
var ErrLocked = errors.New("database is locked by another process")

// Store is a bucketed key/value store of JSON records.
type Store struct {
	db *bolt.DB
}

// Open opens (or creates) the database at path. It fails fast with ErrLocked
// when another daemon holds it.
func Open(path string) (*Store, error) {
	// The freelist is rebuilt at open rather than written at every commit:
	// a commit then costs the same however many records there are.
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 500 * time.Millisecond, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{Containers, Networks} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Put stores v as JSON under key in bucket.
func (s *Store) Put(bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store %s/%s: encode: %w", bucket, key, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put([]byte(key), data)
	})
	if err != nil {
		return fmt.Errorf("store %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Delete removes key from bucket; a missing key is not an error.
func (s *Store) Delete(bucket, key string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("store %s/%s: delete: %w", bucket, key, err)
	}
	return nil
}

// Get decodes the record under key into v. It reports false when missing.
func (s *Store) Get(bucket, key string, v any) (bool, error) {
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket([]byte(bucket)).Get([]byte(key))
		if data == nil {
			return nil
		}
		found = true
		return json.Unmarshal(data, v)
	})
	if err != nil {
		return false, fmt.Errorf("store %s/%s: %w", bucket, key, err)
	}
	return found, nil
}

// Each calls fn with the raw JSON of every record in bucket.
func (s *Store) Each(bucket string, fn func(key string, data []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
			return fn(string(k), v)
		})
	})
}
