package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

type runningEtcd struct {
	etcd      *embed.Etcd
	clientURL string
}

// startEtcd runs a single-member etcd inside this process.
//
// etcd takes URLs, not listeners, so its ports are picked by binding port 0
// and releasing it. Another process can take such a port in between, which
// shows up as "address already in use"; that case is retried with new ports.
//
// ctx bounds the whole start-up; its deadline is the readiness timeout.
func startEtcd(ctx context.Context, s stateDir) (*runningEtcd, error) {
	const attempts = 3
	var lastErr error
	for i := 0; i < attempts; i++ {
		e, err := startEtcdOnce(ctx, s)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if !isAddrInUse(err) {
			break
		}
		// A failed start may leave a half-initialised member behind.
		if err := os.RemoveAll(s.etcdDataDir); err != nil {
			return nil, fmt.Errorf("cleaning etcd data after failed start: %w", err)
		}
	}
	return nil, lastErr
}

func startEtcdOnce(ctx context.Context, s stateDir) (*runningEtcd, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}

	cfg := embed.NewConfig()
	cfg.Name = "harness"
	cfg.Dir = s.etcdDataDir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The data is thrown away after the run, so durability buys nothing and
	// fsync dominates write latency on CI disks.
	cfg.UnsafeNoFsync = true
	// A single member elects itself; shorter ticks make that, and so
	// start-up, faster without risk of spurious elections.
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	// Nothing here speaks etcd's HTTP/JSON gateway.
	cfg.EnableGRPCGateway = false
	// NewConfig leaves this at 0 (only etcd's flag parsing sets the default),
	// which makes etcd log every single request as "expensive".
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{s.etcdLog}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd on %s: %w", clientURL.String(), err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &runningEtcd{etcd: e, clientURL: clientURL.String()}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed while starting: %w", err)
	case <-ctx.Done():
		e.Server.Stop() // the member may be stuck; Close alone would wait on it
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready: %w", context.Cause(ctx))
	}
}

// stopEtcd closes etcd, but never waits forever: a hung close must not keep
// an orphaned harness alive after its test run has gone.
func stopEtcd(e *runningEtcd) {
	done := make(chan struct{})
	go func() {
		e.etcd.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(etcdStopTimeout):
		fmt.Fprintf(os.Stderr, "kube-apiserver-harness: etcd did not stop within %s, exiting anyway\n", etcdStopTimeout)
	}
}

// freePorts asks the kernel for n distinct free ports on 127.0.0.1. All
// listeners stay open until every port is chosen so the ports differ.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// isAddrInUse also matches on the message because etcd does not always
// wrap the underlying syscall error.
func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}
