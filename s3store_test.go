package crossbar_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive"
	"github.com/crossbar-rtc/crossbar/archive/s3store"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/mediatest"
)

// s3Bucket is the bucket the S3 tests keep archives in.
const s3Bucket = "archives"

// s3Server serves the S3 protocol on a loopback port (gofakes3, in
// memory), with the bucket s3Bucket; it returns its address.
func s3Server(t *testing.T) string {
	t.Helper()
	mem := s3mem.New()
	if err := mem.CreateBucket(s3Bucket); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// s3Client is a minio client of the S3 server at addr, which tries each
// request twice at most.
func s3Client(t *testing.T, addr string) *minio.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := minio.New(addr, &minio.Options{
		Creds: credentials.NewStaticV4("key", "secret", ""), Region: "us-east-1",
		BucketLookup: minio.BucketLookupPath, Transport: tr, MaxRetries: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// download copies the objects of the archive id from the bucket to a
// local directory, as an archive.Dir has them.
func download(t *testing.T, c *minio.Client, prefix, id string) (archive.Dir, []string) {
	t.Helper()
	dir := archive.Dir(t.TempDir())
	ctx := context.Background()
	var names []string
	for o := range c.ListObjects(ctx, s3Bucket, minio.ListObjectsOptions{Prefix: path.Join(prefix, id) + "/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		name := path.Base(o.Key)
		if err := c.FGetObject(ctx, s3Bucket, o.Key, dir.Path(id, name), minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return dir, names
}

// An individual archive stored in an S3 bucket: once it stops, its
// stream's file and manifest are objects of the bucket, whole and in time
// (ffprobe reads the file), the spool is empty, its link fetches its
// manifest, and deleting it removes the objects.
func TestS3IndividualArchive(t *testing.T) {
	c := s3Client(t, s3Server(t))
	spool := archive.Dir(t.TempDir())
	bucket := s3store.New(c, s3Bucket, s3store.Options{Prefix: "rec", Spool: spool})
	h := newHarness(t, crossbar.Config{Archives: bucket})
	s := h.session()
	pub, _ := publishTagged(t, h.mediaClient(s, h.ws, "pub", nil, client.Options{}), "pub")
	ctx := context.Background()
	a := recordArchive(t, h.srv, s, crossbar.ArchiveOptions{}, 3*time.Second)
	if got, _ := h.srv.Archive(ctx, a.ID); got.Status != crossbar.ArchiveAvailable {
		t.Fatalf("archive after stop: %+v", got)
	}
	dir, names := download(t, c, "rec", a.ID)
	want := []string{archive.ManifestName, pub.StreamID() + ".webm"}
	if slices.Sort(want); !slices.Equal(names, want) {
		t.Fatalf("objects %v, want %v", names, want)
	}
	m := manifest(t, dir, a.ID)
	if len(m.Files) != 1 || m.Files[0].StreamID != pub.StreamID() {
		t.Fatalf("manifest files: %+v", m.Files)
	}
	checkFile(t, dir, a.ID, m.Files[0], archiveFPS, "pub")
	if left, _ := os.ReadDir(string(spool)); len(left) != 0 {
		t.Errorf("the spool keeps %d entries after the upload", len(left))
	}

	u, err := bucket.URL(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var linked archive.Manifest
	if err := json.Unmarshal([]byte(get(t, u)), &linked); err != nil || linked.ID != a.ID || len(linked.Files) != 1 {
		t.Fatalf("the archive's link %s fetches %+v, %v", u, linked, err)
	}
	if _, err := bucket.FileURL(ctx, a.ID, "../x"); err == nil {
		t.Error("a link to a file outside the archive")
	}

	if err := h.srv.DeleteArchive(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, names := download(t, c, "rec", a.ID); len(names) != 0 {
		t.Fatalf("objects of the deleted archive: %v", names)
	}
}

// A composed archive stored in an S3 bucket: OnArchiveStatus tells of
// each of its statuses, the last one available once its MP4, which
// ffprobe reads, is in the bucket; its link fetches the MP4.
func TestS3ComposedArchive(t *testing.T) {
	mediatest.Need(t)
	c := s3Client(t, s3Server(t))
	bucket := s3store.New(c, s3Bucket, s3store.Options{Spool: archive.Dir(t.TempDir())})
	h := newHarness(t, crossbar.Config{Archives: bucket})
	s := h.session()
	until := followArchives(t, s)
	publishTagged(t, h.mediaClient(s, h.ws, "pub", nil, client.Options{}), "pub")
	a := recordArchive(t, h.srv, s, crossbar.ArchiveOptions{OutputMode: crossbar.OutputComposed}, 3*time.Second)
	seen, last := until(a.ID)
	if want := []crossbar.ArchiveStatus{crossbar.ArchiveStarted, crossbar.ArchiveStopped, crossbar.ArchiveAvailable}; !slices.Equal(seen, want) {
		t.Fatalf("statuses %v (%+v), want %v", seen, last, want)
	}
	if last.Size == 0 {
		t.Errorf("available archive: %+v", last)
	}

	dir, names := download(t, c, "", a.ID)
	if !slices.Equal(names, []string{crossbar.ComposedArchiveFile}) {
		t.Fatalf("objects %v, want %s", names, crossbar.ComposedArchiveFile)
	}
	streams, d := mediatest.Probe(t, dir.Path(a.ID, crossbar.ComposedArchiveFile))
	if len(streams) != 2 || streams[0].Codec != "h264" || streams[0].Width != 640 || streams[1].Codec != "aac" {
		t.Fatalf("streams: %+v, want 640x480 H.264 and AAC", streams)
	}
	if d < a.Duration-500*time.Millisecond || d > a.Duration+500*time.Millisecond {
		t.Errorf("the file lasts %v, the archive %v", d, a.Duration)
	}
	u, err := bucket.URL(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b := get(t, u); int64(len(b)) != last.Size {
		t.Errorf("the archive's link fetches %d bytes, want %d", len(b), last.Size)
	}
}

// An archive whose bucket refuses it (there is none of its name), or
// whose store cannot be reached, fails with the store's reason; the
// session goes on.
func TestS3ArchiveFails(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := refused.Addr().String()
	_ = refused.Close() // nothing listens there now
	for _, c := range []struct{ name, addr, bucket, reason string }{
		{"no bucket", s3Server(t), "nope", "bucket does not exist"},
		{"unreachable", closed, s3Bucket, "connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, crossbar.Config{Archives: s3store.New(s3Client(t, c.addr), c.bucket, s3store.Options{Spool: archive.Dir(t.TempDir())})})
			s := h.session()
			pc := h.mediaClient(s, h.ws, "pub", nil, client.Options{})
			pub, _ := publishTagged(t, pc, "pub")
			ctx := context.Background()
			a := recordArchive(t, h.srv, s, crossbar.ArchiveOptions{}, time.Second)
			got, _ := h.srv.Archive(ctx, a.ID)
			if got.Status != crossbar.ArchiveFailed || !strings.Contains(strings.ToLower(got.Reason), c.reason) {
				t.Fatalf("archive: %+v, want failed for %q", got, c.reason)
			}
			t.Logf("reason: %s", got.Reason)
			if err := pc.Signal(ctx, "", "still", "here"); err != nil {
				t.Fatalf("the session after the archive failed: %v", err)
			}
			if _, err := s.Stream(pub.StreamID()); err != nil {
				t.Fatalf("the stream after the archive failed: %v", err)
			}
			if err := h.srv.DeleteArchive(ctx, a.ID); err == nil {
				t.Error("deleting the archive from a store that refuses it succeeded")
			}
		})
	}
}
