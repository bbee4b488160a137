package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// chaosMeshKinds are the resources Chaos Mesh's controller manager serves
// admission webhooks for (its Helm chart's webhook.CRDS, less the kinds
// whose webhook it registers only with extra components).
var chaosMeshKinds = []string{
	"podchaos", "iochaos", "timechaos", "networkchaos", "kernelchaos", "stresschaos",
	"awschaos", "azurechaos", "gcpchaos", "dnschaos", "jvmchaos", "schedule", "workflow",
	"httpchaos", "blockchaos", "physicalmachinechaos", "physicalmachine",
}

// chaosMeshWebhooks is where Chaos Mesh's webhook server must listen and
// what it serves with.
type chaosMeshWebhooks struct {
	port     int
	certsDir string // tls.crt and tls.key, controller-runtime's default names
}

// prepareChaosMeshWebhooks picks a free loopback port for Chaos Mesh's
// webhook server, writes a serving certificate for 127.0.0.1 signed by the
// harness CA into DIR/chaos-mesh/certs, and the port into
// DIR/chaos-mesh/webhook-port for the script that starts Chaos Mesh.
func prepareChaosMeshWebhooks(s stateDir, p pkiFiles) (chaosMeshWebhooks, error) {
	w := chaosMeshWebhooks{certsDir: filepath.Join(s.root, "chaos-mesh", "certs")}
	if err := os.MkdirAll(w.certsDir, 0o700); err != nil {
		return w, fmt.Errorf("creating %s: %w", w.certsDir, err)
	}
	// Released at once: Chaos Mesh binds it a moment later. Another process
	// taking it in between is possible but would fail loudly at start-up.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return w, fmt.Errorf("finding a free port: %w", err)
	}
	w.port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return w, fmt.Errorf("generating webhook key: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: mustSerial(),
		Subject:      pkix.Name{CommonName: "chaos-mesh-controller-manager"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return w, fmt.Errorf("signing webhook certificate: %w", err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{"tls.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{"tls.key", mustKeyPEM(key), 0o600},
	}
	for _, f := range files {
		path := filepath.Join(w.certsDir, f.name)
		if err := os.WriteFile(path, f.data, f.perm); err != nil {
			return w, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	portFile := filepath.Join(s.root, "chaos-mesh", "webhook-port")
	if err := writeFileAtomic(portFile, []byte(strconv.Itoa(w.port)+"\n"), 0o644); err != nil {
		return w, fmt.Errorf("writing %s: %w", portFile, err)
	}
	return w, nil
}

// installChaosMeshWebhooks registers Chaos Mesh's mutating and validating
// webhooks at https://127.0.0.1:PORT, as its Helm chart does for its
// Service. They fail closed, so that an object Chaos Mesh has not defaulted
// and validated is never admitted; nothing creates one before the script
// has seen the webhook server answer.
//
// One difference from the chart: objects are defaulted on CREATE only. The
// controller manager is built with Chaos Mesh's `api` module of 2026-09-06
// (the only one the Go module proxy serves, see README.md), four days newer
// than its CRDs: its NetworkChaos has `partitionBehavior`, defaulted to "drop"
// and pruned by the API server, as the CRDs lack it. Defaulted again on each
// UPDATE, every update Chaos Mesh makes differs from the stored spec, and its
// own validating webhook refuses it ("Cannot update chaos spec"), so no status
// is ever recorded. Chaos Mesh refuses any spec change on update anyway, so
// defaulting there adds nothing but that skew.
func installChaosMeshWebhooks(ctx context.Context, client kubernetes.Interface, w chaosMeshWebhooks, caPEM []byte) error {
	fail := admissionv1.Fail
	none := admissionv1.SideEffectClassNone
	timeout := int32(5)
	hook := func(prefix, kind string, operations ...admissionv1.OperationType) (admissionv1.WebhookClientConfig, []admissionv1.RuleWithOperations) {
		url := fmt.Sprintf("https://127.0.0.1:%d/%s-chaos-mesh-org-v1alpha1-%s", w.port, prefix, kind)
		rules := []admissionv1.RuleWithOperations{{
			Operations: operations,
			Rule: admissionv1.Rule{
				APIGroups:   []string{"chaos-mesh.org"},
				APIVersions: []string{"v1alpha1"},
				Resources:   []string{kind},
			},
		}}
		return admissionv1.WebhookClientConfig{URL: &url, CABundle: caPEM}, rules
	}
	mutating := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "chaos-mesh-mutation"}}
	validating := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "chaos-mesh-validation"}}
	for _, kind := range chaosMeshKinds {
		config, rules := hook("mutate", kind, admissionv1.Create)
		mutating.Webhooks = append(mutating.Webhooks, admissionv1.MutatingWebhook{
			Name: "m" + kind + ".kb.io", ClientConfig: config, Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
		})
		config, rules = hook("validate", kind, admissionv1.Create, admissionv1.Update)
		validating.Webhooks = append(validating.Webhooks, admissionv1.ValidatingWebhook{
			Name: "v" + kind + ".kb.io", ClientConfig: config, Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
		})
	}
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating %s: %w", mutating.Name, err)
	}
	if _, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating %s: %w", validating.Name, err)
	}
	return nil
}
