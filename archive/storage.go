package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Storage keeps archives' files, by archive id and file name. A Storage is
// safe for concurrent use.
type Storage interface {
	// Create makes the file name of the archive id, empty, for writing.
	// A writer that is also an io.WriterAt (an *os.File) lets the
	// recorder fill in the file's duration and seek index at the end.
	Create(ctx context.Context, id, name string) (io.WriteCloser, error)
	// Remove deletes every file of the archive id; removing an archive
	// that has none is not an error.
	Remove(ctx context.Context, id string) error
}

// Linker is a Storage that serves the archives it keeps, as an S3
// bucket's presigned links do: URL is where an available archive's files
// are fetched (OpenTok's archive url). Dir, on the local disk, is not one.
type Linker interface {
	Storage
	URL(ctx context.Context, id string) (string, error)
}

// Dir is the default Storage: a directory of the local file system, with
// one subdirectory per archive.
type Dir string

// Path returns the path of the file name of the archive id.
func (d Dir) Path(id, name string) string { return filepath.Join(string(d), id, name) }

// Create implements Storage.
func (d Dir) Create(_ context.Context, id, name string) (io.WriteCloser, error) {
	if err := CheckName(id); err != nil {
		return nil, err
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(string(d), id), 0o755); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	f, err := os.Create(d.Path(id, name))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return f, nil
}

// Remove implements Storage.
func (d Dir) Remove(_ context.Context, id string) error {
	if err := CheckName(id); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(string(d), id)); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// errBadName: an id or file name that is not one plain path element.
var errBadName = errors.New("archive: bad file or archive name")

// CheckName refuses an archive id or file name that is not one plain
// path element: one that would leave the archive's directory, or folder
// of an object store. Storages check the names they are given with it.
func CheckName(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) {
		return fmt.Errorf("%w: %q", errBadName, s)
	}
	return nil
}
