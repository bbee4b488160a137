package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"
)

// stateDir holds every path the harness writes. Keeping them in one place
// makes the on-disk contract (README.md) easy to check against the code.
type stateDir struct {
	root         string
	pkiDir       string // CA, serving certificate, service-account key
	etcdDataDir  string
	readyFile    string
	apiserverLog string
	etcdLog      string
}

func prepareStateDir(root string) (stateDir, error) {
	s := stateDir{
		root:         root,
		pkiDir:       filepath.Join(root, "pki"),
		etcdDataDir:  filepath.Join(root, "etcd"),
		readyFile:    filepath.Join(root, "ready"),
		apiserverLog: filepath.Join(root, "apiserver.log"),
		etcdLog:      filepath.Join(root, "etcd.log"),
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return s, fmt.Errorf("creating %s: %w", root, err)
	}
	// A stale ready file would let a watcher connect to a dead server.
	if err := os.Remove(s.readyFile); err != nil && !os.IsNotExist(err) {
		return s, fmt.Errorf("removing stale %s: %w", s.readyFile, err)
	}
	// Every run is a fresh cluster: old etcd data would carry objects signed
	// with the previous run's keys and an etcd member bound to old ports.
	if err := os.RemoveAll(s.etcdDataDir); err != nil {
		return s, fmt.Errorf("removing old etcd data %s: %w", s.etcdDataDir, err)
	}
	for _, d := range []string{s.pkiDir, s.etcdDataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return s, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return s, nil
}

// harnessLogs routes klog and grpc logging into apiserver.log. The parent
// test process usually inherits or pipes our stderr, and a chatty apiserver
// there either drowns test output or, with an undrained pipe, blocks the
// server once the pipe buffer fills. stderr is kept for our own few lines.
type harnessLogs struct {
	path string
	mu   sync.Mutex
	file *os.File
}

func openLogs(s stateDir) (*harnessLogs, error) {
	f, err := os.OpenFile(s.apiserverLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", s.apiserverLog, err)
	}
	// klog's own flags are the only supported way to stop it from copying
	// errors to stderr (stderrthreshold) on top of the configured output.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for name, value := range map[string]string{
		"logtostderr":     "false",
		"alsologtostderr": "false",
		"stderrthreshold": "FATAL",
		// Without this klog writes an error once per severity it covers.
		"one_output": "true",
		"v":          "0",
	} {
		if err := fs.Set(name, value); err != nil {
			f.Close()
			return nil, fmt.Errorf("setting klog flag %s: %w", name, err)
		}
	}
	l := &harnessLogs{path: s.apiserverLog, file: f}
	klog.SetOutput(l)
	// grpc (the apiserver's etcd client) logs errors to stderr by default.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, l, l))
	return l, nil
}

func (l *harnessLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.file.Write(p)
}

func (l *harnessLogs) Close() error {
	klog.Flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.file.Close()
}

// printf records the harness's own progress in the same log, so the log
// alone tells the story of a run.
func (l *harnessLogs) printf(format string, args ...any) {
	fmt.Fprintf(l, "harness %s: %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

// tail returns the end of the apiserver log, formatted for appending to a
// start-up error: the root cause is usually in the last few lines.
func (l *harnessLogs) tail() string {
	klog.Flush()
	data, err := os.ReadFile(l.path)
	if err != nil || len(data) == 0 {
		return fmt.Sprintf(" (log: %s)", l.path)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n--- last lines of %s ---\n", l.path)
	for _, line := range lines {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
