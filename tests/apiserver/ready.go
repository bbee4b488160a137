package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/version"
)

// waitReady polls until the server is usable by a test, not merely up:
// /readyz is 200, the RBAC bootstrap policy exists (tests bind to
// cluster-admin and the default roles) and the `default` namespace exists
// (the system-namespaces controller creates it asynchronously, after
// /readyz may already pass). It returns the version /version reports.
//
// It talks to the server exactly as a test will: over TLS verified against
// the generated CA, with the admin's bearer token.
func waitReady(ctx context.Context, serverURL string, caPEM []byte, token string, apiDone <-chan error) (string, error) {
	client, err := adminClient(serverURL, caPEM, token)
	if err != nil {
		return "", err
	}

	checks := []struct {
		name string
		ok   func(context.Context) error
	}{
		{"/readyz", func(ctx context.Context) error {
			var status int
			res := client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status)
			if status == http.StatusOK {
				return nil
			}
			body, err := res.Raw()
			if failing := failingChecks(body); failing != "" {
				return fmt.Errorf("status %d, failing: %s", status, failing)
			}
			return fmt.Errorf("status %d: %v", status, err)
		}},
		{"clusterrole cluster-admin", func(ctx context.Context) error {
			_, err := client.RbacV1().ClusterRoles().Get(ctx, "cluster-admin", metav1.GetOptions{})
			return err
		}},
		{"namespace default", func(ctx context.Context) error {
			_, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
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
			select {
			case err := <-apiDone:
				return "", fmt.Errorf("kube-apiserver stopped while waiting for %s: %v", check.name, err)
			case <-ctx.Done():
				if apierrors.IsNotFound(lastErr) {
					lastErr = fmt.Errorf("not found yet")
				}
				return "", fmt.Errorf("%s not ready (%w): last error: %v", check.name, context.Cause(ctx), lastErr)
			case <-ticker.C:
			}
		}
	}

	info, err := client.Discovery().ServerVersion()
	if err != nil {
		return "", fmt.Errorf("reading /version: %w", err)
	}
	return info.GitVersion, nil
}

// adminClient talks to the server as the admin user over verified TLS.
func adminClient(serverURL string, caPEM []byte, token string) (*kubernetes.Clientset, error) {
	cfg := &rest.Config{
		Host:            serverURL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
		Timeout:         5 * time.Second,
		QPS:             -1, // no client-side throttling while polling
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	return client, nil
}

// failingChecks picks the "[-]name failed: ..." lines out of a /readyz
// body; the full body lists dozens of passing checks too.
func failingChecks(body []byte) string {
	var failing []string
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "[-]"); ok {
			name, _, _ = strings.Cut(name, " ")
			failing = append(failing, name)
		}
	}
	return strings.Join(failing, ", ")
}

// warnIfVersionUnset complains when the binary was built without the
// version ldflags (a plain `go build`): /version then reports a
// v0.0.0-master placeholder and tests that print it would mislead.
func warnIfVersionUnset(served string) {
	want := kubernetesModuleVersion()
	if want == "" || served == want {
		return
	}
	fmt.Fprintf(os.Stderr, "kube-apiserver-harness: warning: /version reports %q but the binary is built from k8s.io/kubernetes %s; "+
		"build with scripts/build-apiserver.sh (it sets k8s.io/component-base/version via -ldflags) (compiled-in gitVersion %q)\n",
		served, want, version.Get().GitVersion)
}

// kubernetesModuleVersion is the k8s.io/kubernetes version this binary was
// built from, as recorded by the Go toolchain.
func kubernetesModuleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, dep := range bi.Deps {
		if dep.Path == "k8s.io/kubernetes" {
			return strings.TrimSpace(dep.Version)
		}
	}
	return ""
}
