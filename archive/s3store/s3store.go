// Package s3store keeps Crossbar's archives in a bucket of an
// S3-compatible object store (Amazon S3, MinIO, Ceph, Cloudflare R2 and
// the like), through minio-go: a Bucket is an archive.Storage for
// crossbar.Config.Archives, and an archive.Linker, whose presigned links
// are the url of OpenTok's archive JSON. It is a package of its own so
// that a program that keeps its archives elsewhere does not build in
// minio-go.
//
// Each file of an archive is written to a local spool directory while it
// is recorded (the recorder fills in its duration and seek index at the
// end), and uploaded when it is complete, as the object
// Prefix/<archive id>/<file name>: an individual archive's files and its
// archive.json once the archive stops, a composed archive's MP4 once it
// is composed. An upload that fails makes the archive fail, with the
// store's error as its reason; the live session is not disturbed.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/crossbar-rtc/crossbar/archive"
)

// URLExpiry is how long the links of Bucket.URL are valid by default, as
// OpenTok's download URLs are.
const URLExpiry = 10 * time.Minute

// Options tune a Bucket. The zero value is usable.
type Options struct {
	// Prefix is put before every object's name, as a folder:
	// "archives" stores archives/<id>/<file>. Empty: none.
	Prefix string
	// Spool is where files are kept while they are written, before
	// their upload; empty means a directory in os.TempDir.
	Spool archive.Dir
	// URLExpiry is how long URL's links are valid; zero means URLExpiry.
	URLExpiry time.Duration
}

// Bucket is an archive.Storage in a bucket of an S3-compatible store. It
// is safe for concurrent use.
type Bucket struct {
	client *minio.Client
	name   string
	opts   Options
}

// New returns the Storage of archives in the bucket name, reached with
// client (minio.New with the store's endpoint and credentials; its
// Options.MaxRetries and Transport bound how long a failing upload
// takes). The bucket must exist.
func New(client *minio.Client, name string, opts Options) *Bucket {
	if opts.Spool == "" {
		opts.Spool = archive.Dir(filepath.Join(os.TempDir(), "crossbar-s3spool"))
	}
	if opts.URLExpiry <= 0 {
		opts.URLExpiry = URLExpiry
	}
	return &Bucket{client: client, name: name, opts: opts}
}

// Key returns the name of the object that holds the file name of the
// archive id.
func (b *Bucket) Key(id, name string) string { return path.Join(b.opts.Prefix, id, name) }

// Create implements archive.Storage: the file is spooled, and uploaded
// when it is closed; Close returns the upload's error.
func (b *Bucket) Create(ctx context.Context, id, name string) (io.WriteCloser, error) {
	f, err := b.opts.Spool.Create(ctx, id, name) // it refuses names that are not plain
	if err != nil {
		return nil, fmt.Errorf("s3store: spool: %w", err)
	}
	return &upload{File: f.(*os.File), ctx: context.WithoutCancel(ctx), b: b, id: id, name: name}, nil
}

// upload is a spooled file that goes to the bucket when it is closed.
// It is an io.WriterAt, as the recorder wants.
type upload struct {
	*os.File
	ctx      context.Context // Create's, without its cancellation
	b        *Bucket
	id, name string
}

// Close closes the spooled file, uploads it, and removes it from the
// spool.
func (u *upload) Close() error {
	err := u.File.Close()
	if err == nil {
		_, err = u.b.client.FPutObject(u.ctx, u.b.name, u.b.Key(u.id, u.name), u.Name(),
			minio.PutObjectOptions{ContentType: contentType(u.name)})
		if err != nil {
			err = fmt.Errorf("s3store: upload %s to bucket %s: %w", u.b.Key(u.id, u.name), u.b.name, err)
		}
	}
	err = errors.Join(err, os.Remove(u.Name()))
	_ = os.Remove(filepath.Dir(u.Name())) // once the archive's last file left; an error says it has others
	return err
}

// contentType is the media type of an archive's file, by its extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".webm":
		return "video/webm"
	case ".mkv":
		return "video/x-matroska"
	case ".mp4":
		return "video/mp4"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// Remove implements archive.Storage: it deletes the archive's objects,
// and its files still in the spool.
func (b *Bucket) Remove(ctx context.Context, id string) error {
	if err := b.opts.Spool.Remove(ctx, id); err != nil { // it refuses ids that are not plain
		return fmt.Errorf("s3store: spool: %w", err)
	}
	keys, err := b.list(ctx, id)
	for _, key := range keys {
		if err := b.client.RemoveObject(ctx, b.name, key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("s3store: remove %s from bucket %s: %w", key, b.name, err)
		}
	}
	return err
}

// list returns the names of the archive's objects.
func (b *Bucket) list(ctx context.Context, id string) ([]string, error) {
	var keys []string
	for o := range b.client.ListObjects(ctx, b.name, minio.ListObjectsOptions{Prefix: b.Key(id, "") + "/", Recursive: true}) {
		if o.Err != nil {
			return keys, fmt.Errorf("s3store: list archive %s in bucket %s: %w", id, b.name, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}

// URL implements archive.Linker: a presigned link, valid for
// Options.URLExpiry, to a composed archive's MP4, or to an individual
// archive's manifest (archive.json; FileURL links its files).
func (b *Bucket) URL(ctx context.Context, id string) (string, error) {
	if err := archive.CheckName(id); err != nil {
		return "", err
	}
	keys, err := b.list(ctx, id)
	if err != nil {
		return "", err
	}
	switch {
	case len(keys) == 1:
		return b.FileURL(ctx, id, path.Base(keys[0]))
	case len(keys) > 1:
		return b.FileURL(ctx, id, archive.ManifestName)
	}
	return "", fmt.Errorf("s3store: archive %s has no files in bucket %s", id, b.name)
}

// FileURL returns a presigned link, valid for Options.URLExpiry, to the
// file name of the archive id.
func (b *Bucket) FileURL(ctx context.Context, id, name string) (string, error) {
	if err := errors.Join(archive.CheckName(id), archive.CheckName(name)); err != nil {
		return "", err
	}
	u, err := b.client.PresignedGetObject(ctx, b.name, b.Key(id, name), b.opts.URLExpiry, nil)
	if err != nil {
		return "", fmt.Errorf("s3store: link to %s: %w", b.Key(id, name), err)
	}
	return u.String(), nil
}

var _ archive.Linker = (*Bucket)(nil)
