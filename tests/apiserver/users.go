package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// user is one static-token identity. The tests grant RBAC to the groups, so
// the group names are part of the contract (README.md).
type user struct {
	kubeconfig string // file name in the state dir
	name       string
	groups     []string
}

var users = []user{
	{"admin.kubeconfig", "admin", []string{"system:masters"}},
	{"approver.kubeconfig", "approver", []string{"smartchaos:approvers"}},
	{"viewer.kubeconfig", "viewer", []string{"smartchaos:viewers"}},
	// Tenancy tests (tests/tenancy.rs) grant these two rights per namespace
	// only, with RoleBindings to the user, never to their groups.
	{"tenant.kubeconfig", "tenant", []string{"smartchaos:tenants"}},
	{"partner.kubeconfig", "partner", []string{"smartchaos:partners"}},
	// Token authentication can claim any username, so the operator's
	// service-account identity needs no real ServiceAccount object (there is
	// no controller-manager to mint one) yet RBAC and admission policies see
	// exactly the user and groups a real service-account token would carry.
	{"operator.kubeconfig", "system:serviceaccount:smart-chaos-system:smart-chaos",
		[]string{"system:serviceaccounts", "system:serviceaccounts:smart-chaos-system"}},
}

type userFiles struct {
	tokenFile  string
	adminToken string
}

// writeUsers writes the static token file for the apiserver and one
// kubeconfig per user. Tokens are random per run so that a leftover
// kubeconfig from an earlier run can never talk to a new server.
func writeUsers(s stateDir, serverURL string, caPEM []byte) (userFiles, error) {
	out := userFiles{tokenFile: filepath.Join(s.pkiDir, "tokens.csv")}
	var csv strings.Builder
	for _, u := range users {
		token, err := randomToken()
		if err != nil {
			return out, err
		}
		if u.name == "admin" {
			out.adminToken = token
		}
		// Format: token,user,uid,"group1,group2"
		fmt.Fprintf(&csv, "%s,%s,%s,%q\n", token, u.name, u.name, strings.Join(u.groups, ","))

		path := filepath.Join(s.root, u.kubeconfig)
		if err := clientcmd.WriteToFile(kubeconfig(serverURL, caPEM, u.name, token), path); err != nil {
			return out, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := writeFileAtomic(out.tokenFile, []byte(csv.String()), 0o600); err != nil {
		return out, fmt.Errorf("writing %s: %w", out.tokenFile, err)
	}
	return out, nil
}

func kubeconfig(serverURL string, caPEM []byte, userName, token string) clientcmdapi.Config {
	const name = "smart-chaos-test"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[userName] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{
		Cluster:   name,
		AuthInfo:  userName,
		Namespace: "default",
	}
	cfg.CurrentContext = name
	return *cfg
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
