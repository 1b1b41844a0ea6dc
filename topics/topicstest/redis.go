package topicstest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redis is a redis-server a test started: on loopback, without
// persistence, its working folder in tb.TempDir(). Its methods are safe
// for concurrent use.
type Redis struct {
	// Addr is host:port; URL the redis:// URL of database 0.
	Addr, URL string

	tb   testing.TB
	bin  string
	dir  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives cmd's Wait result
}

// StartRedis starts a redis-server on a free loopback port and stops it
// when tb ends. It skips the test when redis-server is not on PATH, unless
// RequireServersEnv is "1", when it fails it.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireServersEnv) == "1" {
			tb.Fatalf("redis-server is required (%s=1): %v", RequireServersEnv, err)
		}
		tb.Skipf("redis-server not installed: %v", err)
	}
	r := &Redis{tb: tb, bin: bin, dir: tb.TempDir()}
	var last error
	for range 5 { // the free port may be taken between probing and binding
		if r.port, last = freePort(); last != nil {
			continue
		}
		if last = r.start(); last == nil {
			break
		}
	}
	if last != nil {
		tb.Fatalf("start redis-server: %v", last)
	}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	r.URL = "redis://" + r.Addr + "/0"
	tb.Cleanup(r.Stop)
	return r
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server on r.port and waits until it answers PING.
func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	cmd := exec.Command(r.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %v: %s", err, strings.TrimSpace(string(log)))
		default:
		}
		if ping(addr) == nil {
			r.cmd, r.exited = cmd, exited
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on %s did not answer PING within %v", addr, Timeout)
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Stop kills the server, dropping its connections (its data is not kept).
// Safe to call more than once.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// Restart starts the server again on the same port after Stop, for tests
// of reconnection.
func (r *Redis) Restart() {
	r.tb.Helper()
	if err := r.start(); err != nil {
		r.tb.Fatalf("restart redis-server: %v", err)
	}
}
