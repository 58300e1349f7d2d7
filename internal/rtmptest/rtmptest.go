// Package rtmptest runs a real RTMP server for tests: Debian's nginx with
// its RTMP module (libnginx-mod-rtmp), on a loopback port, with a
// configuration of the test's own.
package rtmptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// module is where Debian's libnginx-mod-rtmp puts the module.
const module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// Server is an nginx process of a test that takes RTMP streams at
// rtmp://Addr/live/<name> and plays them back there.
type Server struct {
	Addr string // host:port on 127.0.0.1
	URL  string // rtmp://Addr/live, the server URL publishers and players use
}

// Start runs nginx with the RTMP module on a free loopback port until the
// test ends. The test is skipped if nginx or the module is not installed
// (.ci/run installs them).
func Start(t testing.TB) *Server {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx libnginx-mod-rtmp)")
	}
	if _, err := os.Stat(module); err != nil {
		t.Skip("nginx's RTMP module is not installed (apt-get install libnginx-mod-rtmp)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // the port is free for nginx
	dir := t.TempDir()
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
worker_processes 1;
error_log %s/error.log info;
pid %s/nginx.pid;
events { worker_connections 64; }
rtmp {
	server {
		listen %s;
		chunk_size 4096;
		application live {
			live on;
			record off;
			wait_key on;   # players start at a keyframe
			wait_video on;
		}
	}
}
`, module, dir, dir, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx's error log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s", waitErr, b)
		case <-time.After(20 * time.Millisecond): // polling a process that is starting
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx on %s did not answer: %v", addr, err)
		}
	}
	return &Server{Addr: addr, URL: "rtmp://" + addr + "/live"}
}
