package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pkiFiles are the generated key material, fresh on every run.
type pkiFiles struct {
	caPEM          []byte // embedded in every kubeconfig as certificate-authority-data
	caCert         *x509.Certificate
	caKey          crypto.Signer // signs the Chaos Mesh webhook certificate too (chaosmesh.go)
	caCertFile     string
	servingCert    string
	servingKey     string
	saKeyFile      string // RSA private key: signs and (via its public half) verifies SA tokens
	serviceAccount string // issuer and audience of service-account tokens
}

const serviceAccountIssuer = "https://kubernetes.default.svc"

// generatePKI creates a small CA and a serving certificate signed by it,
// plus the service-account signing key.
//
// A separate CA is required because rustls (the Rust tests' TLS stack)
// refuses a certificate that is both a CA and the server's end-entity
// certificate, which is what the apiserver's built-in self-signed helper
// produces. ECDSA P-256 keeps generation fast; rustls accepts it.
func generatePKI(s stateDir) (pkiFiles, error) {
	p := pkiFiles{
		caCertFile:     filepath.Join(s.pkiDir, "ca.crt"),
		servingCert:    filepath.Join(s.pkiDir, "apiserver.crt"),
		servingKey:     filepath.Join(s.pkiDir, "apiserver.key"),
		saKeyFile:      filepath.Join(s.pkiDir, "sa.key"),
		serviceAccount: serviceAccountIssuer,
	}
	now := time.Now()

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, fmt.Errorf("generating CA key: %w", err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          mustSerial(),
		Subject:               pkix.Name{CommonName: "smart-chaos test CA"},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, caKey.Public(), caKey)
	if err != nil {
		return p, fmt.Errorf("self-signing CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return p, fmt.Errorf("parsing CA certificate: %w", err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, fmt.Errorf("generating serving key: %w", err)
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: mustSerial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// Clients connect by IP; the DNS names cover in-cluster style names
		// should a test ever use them, and 10.0.0.1 is the `kubernetes`
		// Service's cluster IP in 10.0.0.0/16.
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
		},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, caCert, leafKey.Public(), caKey)
	if err != nil {
		return p, fmt.Errorf("signing serving certificate: %w", err)
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, fmt.Errorf("generating service-account key: %w", err)
	}

	p.caCert, p.caKey = caCert, caKey
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	// The serving file carries the chain (leaf then CA) so that clients that
	// only trust the CA still get a complete path from the handshake.
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), p.caPEM...)
	files := []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{p.caCertFile, p.caPEM, 0o644},
		{p.servingCert, chain, 0o644},
		{p.servingKey, mustKeyPEM(leafKey), 0o600},
		{p.saKeyFile, mustKeyPEM(saKey), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, f.perm); err != nil {
			return p, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return p, nil
}

// mustSerial returns a random 128-bit serial, as RFC 5280 recommends; a
// failing system RNG is not something the harness can recover from.
func mustSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(fmt.Sprintf("reading random serial: %v", err))
	}
	return n
}

// mustKeyPEM encodes a key as PKCS#8, which the apiserver's keyutil reads
// for both RSA and ECDSA. Marshalling a freshly generated key cannot fail.
func mustKeyPEM(key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(fmt.Sprintf("marshalling private key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
