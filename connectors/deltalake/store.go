package deltalake

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// errNotFound is returned by store.Get for a missing object; errExists by
// store.PutIfAbsent when the object is already there.
var (
	errNotFound = errors.New("deltalake: object not found")
	errExists   = errors.New("deltalake: object already exists")
)

// store is the object storage of one table, addressed by paths relative
// to the table root ("_delta_log/00000000000000000000.json").
type store interface {
	// Get returns the object's bytes, or errNotFound.
	Get(ctx context.Context, path string) ([]byte, error)
	// Put writes the object durably, replacing any previous one.
	Put(ctx context.Context, path string, data []byte) error
	// Create writes a new object durably under a name no one else uses
	// (a data file): readers find it only through a later commit, so it
	// needs no atomic rename.
	Create(ctx context.Context, path string, data []byte) error
	// PutIfAbsent writes the object durably unless it exists (then
	// errExists): the atomic step of a Delta commit.
	PutIfAbsent(ctx context.Context, path string, data []byte) error
	// List returns the names of the objects directly under dir whose
	// names sort at or after from.
	List(ctx context.Context, dir, from string) ([]string, error)
	// Delete removes an object; a missing object is not an error.
	Delete(ctx context.Context, path string) error
	// String names the table location for messages.
	String() string
}

// openStore returns the store for a table URI: s3://bucket/prefix, or
// file:///path or a plain path for a local directory.
func openStore(ctx context.Context, uri string, s3cfg S3) (store, error) {
	if strings.HasPrefix(uri, "s3://") || strings.HasPrefix(uri, "s3a://") {
		u, err := url.Parse(uri)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("table_uri %q: want s3://bucket/prefix", uri)
		}
		return newS3Store(ctx, u.Host, strings.Trim(u.Path, "/"), s3cfg)
	}
	path := uri
	if strings.HasPrefix(uri, "file://") {
		u, err := url.Parse(uri)
		if err != nil {
			return nil, fmt.Errorf("table_uri %q: %w", uri, err)
		}
		path = u.Path
	} else if strings.Contains(uri, "://") {
		return nil, fmt.Errorf("table_uri %q: the scheme is not supported (want s3://, file:// or a path)", uri)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("table_uri %q: %w", uri, err)
	}
	return &localStore{root: abs}, nil
}

// localStore is a table in a local directory. Put and PutIfAbsent write a
// temporary file, fsync it, then rename it (Put) or hard-link it
// (PutIfAbsent: link fails when the target exists, so a commit can never
// overwrite another) and fsync the directory.
type localStore struct{ root string }

func (s *localStore) String() string { return s.root }

func (s *localStore) abs(path string) string { return filepath.Join(s.root, filepath.FromSlash(path)) }

func (s *localStore) Get(_ context.Context, path string) ([]byte, error) {
	b, err := os.ReadFile(s.abs(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotFound
	}
	return b, err
}

// temp writes data to a fsynced temporary file next to path.
func (s *localStore) temp(path string, data []byte) (string, error) {
	target := s.abs(path)
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(target)+"-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

func (s *localStore) Put(_ context.Context, path string, data []byte) error {
	tmp, err := s.temp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, s.abs(path)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(s.abs(path)))
}

func (s *localStore) Create(_ context.Context, path string, data []byte) error {
	target := s.abs(path)
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(target)
		return err
	}
	return syncDir(dir)
}

func (s *localStore) PutIfAbsent(_ context.Context, path string, data []byte) error {
	target := s.abs(path)
	if _, err := os.Lstat(target); err == nil {
		return errExists
	}
	tmp, err := s.temp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errExists
		}
		return err
	}
	return syncDir(filepath.Dir(target))
}

func (s *localStore) List(_ context.Context, dir, from string) ([]string, error) {
	entries, err := os.ReadDir(s.abs(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && e.Name() >= from && !strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (s *localStore) Delete(_ context.Context, path string) error {
	err := os.Remove(s.abs(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
