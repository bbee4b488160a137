// Command kube-apiserver-harness runs a real kube-apiserver (built from the
// Kubernetes Go modules) on top of an in-process etcd, for the smart-chaos
// integration tests. See README.md in this directory for the contract.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// How long we give each component to stop before giving up on a clean
// shutdown. Tests kill the harness when they finish, so exiting quickly
// matters more than draining every last request.
const (
	apiserverStopTimeout = 10 * time.Second
	etcdStopTimeout      = 5 * time.Second
)

type cliOptions struct {
	stateDir     string
	port         int
	readyTimeout time.Duration
	watchStdin   bool
	// The fuller test cluster (scripts/with-cluster.sh): controllers and
	// scheduler as child processes, and Chaos Mesh's webhooks registered.
	controlPlane      bool
	chaosMeshWebhooks bool
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == controllerManagerCommand || os.Args[1] == schedulerCommand) {
		os.Exit(runComponent(os.Args[1], os.Args[2:]))
	}
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fatalf("%v", err)
	}
	os.Exit(run(opts))
}

func parseFlags(args []string) (cliOptions, error) {
	var o cliOptions
	fs := flag.NewFlagSet("kube-apiserver-harness", flag.ContinueOnError)
	fs.StringVar(&o.stateDir, "state-dir", "", "directory for certificates, kubeconfigs, etcd data and logs (required)")
	fs.IntVar(&o.port, "port", 0, "secure port on 127.0.0.1 (0 picks a free port)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 120*time.Second, "give up if the API server is not ready within this time")
	fs.BoolVar(&o.watchStdin, "watch-stdin", true, "exit when stdin reaches EOF (so the server dies with the process that spawned it)")
	fs.BoolVar(&o.controlPlane, "control-plane", false, "also run kube-controller-manager and kube-scheduler (child processes) and wait for them")
	fs.BoolVar(&o.chaosMeshWebhooks, "chaos-mesh-webhooks", false, "register Chaos Mesh's admission webhooks at 127.0.0.1 (port and certificate in DIR/chaos-mesh)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.stateDir == "" {
		return o, errors.New("--state-dir is required")
	}
	if o.port < 0 || o.port > 65535 {
		return o, fmt.Errorf("--port %d is out of range", o.port)
	}
	abs, err := filepath.Abs(o.stateDir)
	if err != nil {
		return o, fmt.Errorf("resolving --state-dir: %w", err)
	}
	o.stateDir = abs
	return o, nil
}

// run returns the process exit code: 0 only after READY and an orderly
// stop, 1 whenever the server did not become ready (including being asked
// to stop before then). It is separate from main so that the deferred
// clean-ups run before os.Exit.
func run(o cliOptions) int {
	started := time.Now()

	// stop is cancelled by SIGINT/SIGTERM or stdin EOF; everything hangs off it.
	stop, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	watchSignals(cancel)
	if o.watchStdin {
		watchStdin(cancel)
	}
	// One deadline covers the whole start-up, etcd included.
	starting, startingDone := context.WithTimeout(stop, o.readyTimeout)
	defer startingDone()

	// startFailed reports why start-up ended and exits at once, skipping the
	// deferred graceful stop: kube-apiserver treats a post-start hook that
	// is cancelled before it completes as fatal (klog.Fatalf, exit 255 with
	// goroutine dumps on stderr), and the etcd data is throwaway anyway.
	// A stop request is named as such, so that e.g. a stdin of /dev/null is
	// not mistaken for a broken server.
	startFailed := func(format string, args ...any) int {
		var code int
		if cause := context.Cause(stop); cause != nil {
			hint := ""
			if o.watchStdin && strings.Contains(cause.Error(), "stdin") {
				hint = " (the harness exits when stdin closes: keep a pipe open, or pass --watch-stdin=false)"
			}
			code = failf("stopped before ready: %v%s", cause, hint)
		} else {
			code = failf(format, args...)
		}
		klog.Flush()
		os.Exit(code)
		return code
	}

	state, err := prepareStateDir(o.stateDir)
	if err != nil {
		return failf("preparing state dir: %v", err)
	}
	logs, err := openLogs(state)
	if err != nil {
		return failf("opening logs: %v", err)
	}
	defer logs.Close()

	// Bind the secure port ourselves before anything else: the port has to
	// be known to write the kubeconfigs, and handing the open listener to
	// the apiserver means no other process can grab it in between.
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if err != nil {
		return failf("listening on 127.0.0.1:%d: %v", o.port, err)
	}
	defer listener.Close() // normally the apiserver has closed it already
	serverURL := fmt.Sprintf("https://127.0.0.1:%d", listener.Addr().(*net.TCPAddr).Port)

	pki, err := generatePKI(state)
	if err != nil {
		return failf("generating certificates and keys: %v", err)
	}
	users, err := writeUsers(state, serverURL, pki.caPEM)
	if err != nil {
		return failf("writing users: %v", err)
	}

	etcd, err := startEtcd(starting, state)
	if err != nil {
		return startFailed("starting etcd: %v (log: %s)", err, state.etcdLog)
	}
	defer stopEtcd(etcd)

	apiCtx, apiCancel := context.WithCancel(context.Background())
	defer apiCancel()
	apiDone, err := startAPIServer(apiCtx, apiserverConfig{
		state:     state,
		listener:  listener,
		etcdURL:   etcd.clientURL,
		pki:       pki,
		tokenFile: users.tokenFile,
		logs:      logs,
	})
	if err != nil {
		return startFailed("starting kube-apiserver: %v%s", err, logs.tail())
	}
	// stopAPIServer is deferred after stopEtcd, so it runs first: the
	// apiserver must let go of etcd before etcd goes away.
	defer stopAPIServer(apiCancel, apiDone)

	gitVersion, err := waitReady(starting, serverURL, pki.caPEM, users.adminToken, apiDone)
	if err != nil {
		// Take the log tail now: after the stop it would only show shutdown.
		return startFailed("waiting for kube-apiserver to become ready: %v%s", err, logs.tail())
	}
	warnIfVersionUnset(gitVersion)

	// Children that stop on their own end the harness like the apiserver does.
	childDone := make(chan string, 2)
	if o.controlPlane || o.chaosMeshWebhooks {
		client, err := adminClient(serverURL, pki.caPEM, users.adminToken)
		if err != nil {
			return startFailed("%v", err)
		}
		if o.chaosMeshWebhooks {
			webhooks, err := prepareChaosMeshWebhooks(state, pki)
			if err != nil {
				return startFailed("preparing Chaos Mesh webhooks: %v", err)
			}
			if err := installChaosMeshWebhooks(starting, client, webhooks, pki.caPEM); err != nil {
				return startFailed("installing Chaos Mesh webhooks: %v", err)
			}
		}
		if o.controlPlane {
			children, err := startControlPlane(state, pki)
			if err != nil {
				return startFailed("%v", err)
			}
			defer stopControlPlane(children)
			if err := waitControlPlaneReady(starting, client, children); err != nil {
				return startFailed("waiting for the control plane: %v", err)
			}
			for _, c := range children {
				go func() {
					<-c.done
					childDone <- c.name
				}()
			}
		}
	}

	// The ready file is written atomically so a watcher never reads half a URL.
	if err := writeFileAtomic(state.readyFile, []byte(serverURL+"\n"), 0o644); err != nil {
		return failf("writing %s: %v", state.readyFile, err)
	}
	defer os.Remove(state.readyFile)
	fmt.Printf("READY %s kubernetes=%s\n", serverURL, gitVersion)
	logs.printf("ready after %s", time.Since(started).Round(time.Millisecond))

	select {
	case <-stop.Done():
		logs.printf("stopping: %v", context.Cause(stop))
		return 0
	case name := <-childDone:
		return failf("%s exited unexpectedly (log: %s)", name, filepath.Join(state.root, name+".log"))
	case err := <-apiDone:
		// The apiserver never returns on its own unless something broke.
		return failf("kube-apiserver exited unexpectedly: %v%s", err, logs.tail())
	}
}

// watchSignals cancels on the first SIGINT/SIGTERM and exits hard on the
// second, so an impatient Ctrl-C never leaves the terminal waiting.
func watchSignals(cancel context.CancelCauseFunc) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		cancel(fmt.Errorf("received %v", sig))
		<-ch
		os.Exit(130)
	}()
}

// watchStdin cancels when stdin reaches EOF. The test process holds the
// write end of our stdin pipe; when it dies, for whatever reason, the kernel
// closes the pipe and we follow it instead of lingering as an orphan.
func watchStdin(cancel context.CancelCauseFunc) {
	go func() {
		_, err := io.Copy(io.Discard, os.Stdin)
		if err != nil {
			cancel(fmt.Errorf("reading stdin: %w", err))
			return
		}
		cancel(errors.New("stdin closed"))
	}()
}

// stopAPIServer stops the apiserver and waits a bounded time for it.
func stopAPIServer(cancel context.CancelFunc, done <-chan error) {
	cancel()
	select {
	case <-done:
	case <-time.After(apiserverStopTimeout):
		fmt.Fprintf(os.Stderr, "kube-apiserver-harness: kube-apiserver did not stop within %s, exiting anyway\n", apiserverStopTimeout)
	}
}

func fatalf(format string, args ...any) {
	os.Exit(failf(format, args...))
}

func failf(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "kube-apiserver-harness: "+format+"\n", args...)
	return 1
}
