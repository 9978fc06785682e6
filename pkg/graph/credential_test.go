package graph

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/fault"
	"github.com/ctsync/ctsync/pkg/graphsim"
)

// signIn makes one Graph call with cfg's credential and returns how the
// token request authenticated.
func signIn(t *testing.T, sim *graphsim.Server, mutate func(*Config)) string {
	t.Helper()
	cfg := Config{AuthorityHost: sim.URL, GraphEndpoint: sim.URL, ClientID: sim.ClientID(), RootCAs: sim.CA.Pool()}
	mutate(&cfg)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir(t, c, target).GetPartner(context.Background(), source); !fault.Is(err, fault.NotFound) {
		t.Fatalf("want the call to reach Graph (and find nothing), got %v", err)
	}
	for _, r := range sim.Requests() {
		if r.Method == "POST" && filepath.Base(r.Path) == "token" && r.Status == 200 {
			return r.Credential
		}
	}
	t.Fatal("no successful token request")
	return ""
}

func TestCertificateCredential(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ctsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	path := filepath.Join(t.TempDir(), "app.pem")
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	if err := os.WriteFile(path, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := signIn(t, sim, func(c *Config) { c.CertificatePath = path }); got != "assertion" {
		t.Fatalf("signed in with %q", got)
	}
}

func TestWorkloadIdentityCredential(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	b64 := base64.RawURLEncoding
	token := b64.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." +
		b64.EncodeToString([]byte(`{"iss":"https://oidc.example/","sub":"system:serviceaccount:ctsync:ctsync","exp":`+
			big.NewInt(time.Now().Add(time.Hour).Unix()).String()+`}`)) + ".c2ln"
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := signIn(t, sim, func(c *Config) { c.FederatedTokenFile = path }); got != "assertion" {
		t.Fatalf("signed in with %q", got)
	}
}

func TestManagedIdentityAsTheAppsFederatedCredential(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	// App Service's managed identity endpoint, as the platform announces it.
	t.Setenv("IDENTITY_ENDPOINT", sim.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", graphsim.DefaultIdentityHeader)
	if got := signIn(t, sim, func(c *Config) { c.ManagedIdentity = "system" }); got != "assertion" {
		t.Fatalf("signed in with %q", got)
	}
	if n := sim.CountRequests("GET", "/msi/token", ""); n != 1 {
		t.Fatalf("managed identity endpoint called %d times", n)
	}
}
