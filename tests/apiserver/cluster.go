package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// The subcommands that run one control-plane component each. The harness
// starts them as child processes of itself (same binary, same Kubernetes
// module) rather than in-process: each component registers process-wide
// feature gates, metrics and klog settings of its own, and in one process
// they would clash with the apiserver's.
const (
	controllerManagerCommand = "controller-manager"
	schedulerCommand         = "scheduler"
)

// componentStopTimeout bounds how long a stopped child may take.
const componentStopTimeout = 5 * time.Second

// runComponent runs a component's own cobra command with the given flags
// and returns the exit code. It is what the child processes execute.
func runComponent(name string, args []string) int {
	switch name {
	case controllerManagerCommand:
		cmd := kcm.NewControllerManagerCommand()
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			return failf("kube-controller-manager: %v", err)
		}
	case schedulerCommand:
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			return failf("kube-scheduler: %v", err)
		}
	default:
		return failf("unknown component %q", name)
	}
	return 0
}

// child is one running component process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// controlPlaneFlags are the command lines we would give the real binaries:
// the admin kubeconfig (system:masters, as kubeadm's own component
// kubeconfigs are bound to their system roles), no serving port (nothing
// here scrapes them), leader election on so that their Leases say they run.
func controlPlaneFlags(s stateDir, p pkiFiles) map[string][]string {
	kubeconfig := filepath.Join(s.root, "admin.kubeconfig")
	return map[string][]string{
		controllerManagerCommand: {
			"--kubeconfig=" + kubeconfig,
			"--secure-port=0",
			"--leader-elect=true",
			// Service-account tokens and the root CA ConfigMap, as in a
			// real cluster.
			"--service-account-private-key-file=" + p.saKeyFile,
			"--root-ca-file=" + p.caCertFile,
			"--use-service-account-credentials=false",
			// Tests delete Deployments and analyses and expect their
			// dependents gone within seconds.
			"--concurrent-gc-syncs=5",
		},
		schedulerCommand: {
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--secure-port=0",
			"--leader-elect=true",
		},
	}
}

// startControlPlane starts kube-controller-manager and kube-scheduler as
// children logging to DIR/<name>.log. They receive SIGKILL if the harness
// dies without stopping them (Pdeathsig), so they never outlive it.
func startControlPlane(s stateDir, p pkiFiles) ([]*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the harness binary: %w", err)
	}
	var children []*child
	for _, name := range []string{controllerManagerCommand, schedulerCommand} {
		log, err := os.OpenFile(filepath.Join(s.root, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			stopControlPlane(children)
			return nil, fmt.Errorf("creating %s log: %w", name, err)
		}
		cmd := exec.Command(self, append([]string{name}, controlPlaneFlags(s, p)[name]...)...)
		cmd.Stdout = log
		cmd.Stderr = log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			log.Close()
			stopControlPlane(children)
			return nil, fmt.Errorf("starting %s: %w", name, err)
		}
		c := &child{name: name, cmd: cmd, done: make(chan error, 1)}
		go func() {
			c.done <- cmd.Wait()
			close(c.done)
			log.Close()
		}()
		children = append(children, c)
	}
	return children, nil
}

// stopControlPlane sends SIGTERM to every child and waits a bounded time.
func stopControlPlane(children []*child) {
	for _, c := range children {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range children {
		select {
		case <-c.done:
		case <-time.After(componentStopTimeout):
			_ = c.cmd.Process.Kill()
		}
	}
}

// waitControlPlaneReady returns when both components hold their leader
// Lease and the controller-manager has created the `default`
// ServiceAccount (its controllers are running, not only its process).
func waitControlPlaneReady(ctx context.Context, client kubernetes.Interface, children []*child) error {
	checks := []struct {
		name string
		ok   func(context.Context) error
	}{
		{"lease kube-system/kube-controller-manager", func(ctx context.Context) error {
			_, err := client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
			return err
		}},
		{"lease kube-system/kube-scheduler", func(ctx context.Context) error {
			_, err := client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-scheduler", metav1.GetOptions{})
			return err
		}},
		{"serviceaccount default/default", func(ctx context.Context) error {
			_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err
		}},
	}
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for _, check := range checks {
		for {
			lastErr := check.ok(ctx)
			if lastErr == nil {
				break
			}
			for _, c := range children {
				select {
				case err := <-c.done:
					return fmt.Errorf("%s exited while waiting for %s: %v (log: %s.log)", c.name, check.name, err, c.name)
				default:
				}
			}
			select {
			case <-ctx.Done():
				if apierrors.IsNotFound(lastErr) {
					lastErr = errors.New("not found yet")
				}
				return fmt.Errorf("%s not ready (%w): last error: %v", check.name, context.Cause(ctx), lastErr)
			case <-ticker.C:
			}
		}
	}
	return nil
}
