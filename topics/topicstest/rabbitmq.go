package topicstest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQServerPath is where Debian's rabbitmq-server package (installed
// by .ci/run) puts the server's start script.
const RabbitMQServerPath = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// RequireServersEnv names the variable that, set to "1", makes a test whose
// outside server (rabbitmq-server, redis-server) is not installed fail
// instead of skipping: CI sets it, so that the sink tests run there rather
// than silently pass.
const RequireServersEnv = "KOISTREAM_REQUIRE_SERVERS"

// rabbitMQStartTimeout bounds a start of the server: a cold start (a new
// Mnesia database) takes about 5 s on an idle machine, a restart less.
const rabbitMQStartTimeout = 90 * time.Second

// RabbitMQ is a rabbitmq-server a test started with StartRabbitMQ: a node of
// its own (a unique node name, its own epmd), listening on loopback only,
// its database and logs in a tb.TempDir(). Stop and Start stop and start
// the same node (same ports, same data), as an operator's restart does, so
// durable exchanges and queues and persistent messages survive. Its methods
// are safe for concurrent use; it is stopped when the test ends.
type RabbitMQ struct {
	tb   testing.TB
	dir  string
	port int
	env  []string

	mu     sync.Mutex
	server *exec.Cmd
	done   chan struct{} // closed when server has exited
	epmd   *exec.Cmd
}

// StartRabbitMQ starts a RabbitMQ node on free loopback ports and returns
// once it accepts AMQP connections; the node and its epmd are stopped when
// tb ends. The AMQP port, the distribution port and epmd's port are all
// bound to 127.0.0.1 (epmd also listens on ::1), the management plugin is
// off, and the user is RabbitMQ's default guest/guest (allowed from
// loopback). When RabbitMQServerPath is missing the test is skipped, unless
// RequireServersEnv is "1", when it fails.
func StartRabbitMQ(tb testing.TB) *RabbitMQ {
	tb.Helper()
	if _, err := os.Stat(RabbitMQServerPath); err != nil {
		if os.Getenv(RequireServersEnv) == "1" {
			tb.Fatalf("%s is required (%s=1): %v", RabbitMQServerPath, RequireServersEnv, err)
		}
		tb.Skipf("%s not installed (Debian's rabbitmq-server): %v", RabbitMQServerPath, err)
	}
	ports, err := freePorts(3)
	if err != nil {
		tb.Fatalf("rabbitmq: free ports: %v", err)
	}
	dir := tb.TempDir()
	r := &RabbitMQ{tb: tb, dir: dir, port: ports[0]}
	files := map[string]string{
		"rabbitmq.conf": "listeners.tcp.1 = 127.0.0.1:" + strconv.Itoa(ports[0]) + "\n" +
			"loopback_users.guest = true\n" +
			"log.console = false\n",
		"enabled_plugins": "[].\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			tb.Fatalf("rabbitmq: %v", err)
		}
	}
	// The node name must be unique on the host: two nodes of one name
	// cannot register with epmd, and parallel tests each start one.
	node := fmt.Sprintf("koistream%d_%d@localhost", os.Getpid(), ports[0])
	r.env = append(os.Environ(),
		"HOME="+dir, // the Erlang cookie is written there
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "no-env.conf"),
		"RABBITMQ_NODENAME="+node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(ports[0]),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(ports[1]),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT="+strconv.Itoa(ports[2]),
	)
	// An epmd of our own, in the foreground, so that it ends with the test
	// instead of outliving it as the daemon erl would start does.
	r.epmd = exec.Command("epmd", "-port", strconv.Itoa(ports[2]), "-address", "127.0.0.1")
	r.epmd.Env = r.env
	if err := r.epmd.Start(); err != nil {
		tb.Fatalf("rabbitmq: start epmd: %v", err)
	}
	tb.Cleanup(func() {
		r.Stop()
		_ = r.epmd.Process.Kill()
		_ = r.epmd.Wait()
	})
	r.Start()
	return r
}

// URL is the node's AMQP URL, amqp://guest:guest@127.0.0.1:<port>/.
func (r *RabbitMQ) URL() string {
	return "amqp://guest:guest@127.0.0.1:" + strconv.Itoa(r.port) + "/"
}

// Start starts the node (again, after Stop) and returns once it accepts an
// AMQP connection; it fails the test if the node does not come up within
// 90 s. Starting a running node does nothing.
func (r *RabbitMQ) Start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.server != nil {
		return
	}
	out := &outputBuffer{}
	cmd := exec.Command(RabbitMQServerPath)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		r.tb.Fatalf("rabbitmq: start: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.server, r.done = cmd, done
	deadline := time.Now().Add(rabbitMQStartTimeout)
	for {
		c, err := amqp.Dial(r.URL())
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-done:
			r.server = nil
			r.tb.Fatalf("rabbitmq: the server exited while starting: %s", out.tail())
		default:
		}
		if time.Now().After(deadline) {
			r.stopLocked()
			r.tb.Fatalf("rabbitmq: not accepting connections after %s (%v): %s", rabbitMQStartTimeout, err, out.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the node as an operator does (SIGTERM: connections are closed,
// queues and messages written out) and returns once it has exited; after
// 30 s it is killed. Stopping a stopped node does nothing.
func (r *RabbitMQ) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
}

func (r *RabbitMQ) stopLocked() {
	if r.server == nil {
		return
	}
	// The start script traps SIGTERM and stops the Erlang VM gracefully.
	_ = r.server.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.server.Process.Kill()
		<-r.done
	}
	r.server, r.done = nil, nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1, held open
// together while they are chosen so that they differ.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// outputBuffer collects a process's stdout and stderr, written by exec's
// copying goroutines while a failing test reads its tail.
type outputBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *outputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// tail returns the last 2 KiB of the output, what a failure message shows
// of the server's.
func (o *outputBuffer) tail() string {
	o.mu.Lock()
	s := o.buf.String()
	o.mu.Unlock()
	if len(s) > 2048 {
		s = "…" + s[len(s)-2048:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}
