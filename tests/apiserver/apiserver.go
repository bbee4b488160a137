package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

type apiserverConfig struct {
	state     stateDir
	listener  net.Listener
	etcdURL   string
	pki       pkiFiles
	tokenFile string
	logs      io.Writer
}

// apiserverFlags is the kube-apiserver command line we would pass to the
// real binary. Going through the flags rather than setting option fields
// keeps us on the documented, stable surface and makes the set-up easy to
// compare with envtest or a kubeadm manifest.
func apiserverFlags(c apiserverConfig) []string {
	port := c.listener.Addr().(*net.TCPAddr).Port
	return []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + c.state.pkiDir,
		"--tls-cert-file=" + c.pki.servingCert,
		"--tls-private-key-file=" + c.pki.servingKey,

		"--token-auth-file=" + c.tokenFile,
		// Only RBAC (plus the built-in system:masters bypass), as in a real
		// cluster, so the tests can prove what each user may and may not do.
		"--authorization-mode=RBAC",

		// A /16 so that tests and benchmarks can create thousands of ClusterIP Services.
		"--service-cluster-ip-range=10.0.0.0/16",
		"--service-account-key-file=" + c.pki.saKeyFile,
		"--service-account-signing-key-file=" + c.pki.saKeyFile,
		"--service-account-issuer=" + c.pki.serviceAccount,
		"--api-audiences=" + c.pki.serviceAccount,

		// The default plugin set stays on (ValidatingAdmissionPolicy among
		// them). ServiceAccount is dropped because it rejects Pods whose
		// namespace has no `default` ServiceAccount, and only the absent
		// controller-manager would create one.
		"--disable-admission-plugins=ServiceAccount",
		// Matches kubeadm and kind, so Pod specs that work there work here.
		"--allow-privileged=true",
		// The endpoint reconciler would publish 127.0.0.1 as the `kubernetes`
		// Service's endpoint, which Endpoints validation rejects as loopback,
		// and it would then log that error forever.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
}

// startAPIServer configures kube-apiserver the way its own command does
// (cmd/kube-apiserver/app.NewAPIServerCommand) and runs it in the
// background until ctx is cancelled. Configuration errors are returned
// directly; errors while serving arrive on the returned channel.
func startAPIServer(ctx context.Context, c apiserverConfig) (<-chan error, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(apiserverFlags(c)); err != nil {
		return nil, fmt.Errorf("parsing kube-apiserver flags: %w", err)
	}
	// Serve on the listener we already hold (see main) instead of binding.
	s.SecureServing.Listener = c.listener
	s.SecureServing.BindPort = c.listener.Addr().(*net.TCPAddr).Port

	// What NewAPIServerCommand does in PersistentPreRunE and RunE.
	registry := s.GenericServerRunOptions.ComponentGlobalsRegistry
	if err := registry.Set(); err != nil {
		return nil, fmt.Errorf("applying feature gates and emulation version: %w", err)
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	// Without explicit streams the text logger writes to os.Stderr, bypassing
	// the klog output set up in openLogs.
	logStreams := &logsapi.LoggingOptions{ErrorStream: c.logs, InfoStream: c.logs}
	if err := logsapi.ValidateAndApplyWithOptions(s.Logs, logStreams, registry.FeatureGateFor(basecompatibility.DefaultKubeComponent)); err != nil {
		return nil, fmt.Errorf("applying logging options: %w", err)
	}

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("completing kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("invalid kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}

	// Build the server chain here rather than inside app.Run so that
	// configuration mistakes fail start-up immediately with their own
	// message instead of surfacing as a readiness timeout.
	config, err := app.NewConfig(completed)
	if err != nil {
		return nil, fmt.Errorf("building kube-apiserver config: %w", err)
	}
	completedConfig, err := config.Complete()
	if err != nil {
		return nil, fmt.Errorf("completing kube-apiserver config: %w", err)
	}
	server, err := app.CreateServerChain(completedConfig)
	if err != nil {
		return nil, fmt.Errorf("creating kube-apiserver server chain: %w", err)
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return nil, fmt.Errorf("preparing kube-apiserver: %w", err)
	}

	done := make(chan error, 1)
	go func() {
		err := prepared.Run(ctx)
		if err == nil && ctx.Err() == nil {
			err = fmt.Errorf("kube-apiserver returned without being asked to stop")
		}
		done <- err
		close(done) // later receivers (shutdown) must not block
	}()
	return done, nil
}
