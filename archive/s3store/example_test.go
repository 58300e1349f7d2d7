package s3store_test

import (
	"log"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/archive/s3store"
)

// A server whose archives go to the bucket "archives" of an S3-compatible
// store, below the folder "crossbar".
func Example() {
	mc, err := minio.New("s3.example.com", &minio.Options{Creds: credentials.NewStaticV4("key", "secret", ""), Secure: true})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := crossbar.New(crossbar.Config{
		APIKey: "12345678", APISecret: "0123456789abcdef0123456789abcdef",
		Archives: s3store.New(mc, "archives", s3store.Options{Prefix: "crossbar"}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
}
