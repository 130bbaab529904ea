package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type item struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// server serves /things in two pages over TLS, checking the bearer token, and writes its CA.
func server(t *testing.T) (srv *httptest.Server, caFile string, tokens *[]string) {
	t.Helper()
	var seen []string
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		switch {
		case r.URL.Path == "/forbidden":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"kind":"Status","message":"ippools is forbidden: User \"x\" cannot list"}`)
		case r.URL.Path != "/things":
			w.WriteHeader(http.StatusNotFound)
		case r.URL.Query().Get("limit") != "500":
			w.WriteHeader(http.StatusBadRequest)
		case r.URL.Query().Get("continue") == "":
			fmt.Fprint(w, `{"metadata":{"continue":"page2"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`)
		case r.URL.Query().Get("continue") == "page2":
			fmt.Fprint(w, `{"metadata":{},"items":[{"metadata":{"name":"c"}}]}`)
		default:
			w.WriteHeader(http.StatusGone)
		}
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, caFile, &seen
}

func TestListFollowsContinueAndRereadsToken(t *testing.T) {
	srv, ca, seen := server(t)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(srv.URL, token, ca, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	items, err := List[item](context.Background(), c, "/things")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		names = append(names, it.Metadata.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("items %v", names)
	}
	if err := os.WriteFile(token, []byte("two"), 0o600); err != nil { // a rotated token
		t.Fatal(err)
	}
	if _, err := List[item](context.Background(), c, "/things"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(*seen, ","); got != "Bearer one,Bearer one,Bearer two,Bearer two" {
		t.Fatalf("Authorization headers %s", got)
	}
}

func TestErrors(t *testing.T) {
	srv, ca, _ := server(t)
	c, err := New(srv.URL, "", ca, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := List[item](context.Background(), c, "/absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("404: %v", err)
	}
	if _, err := List[item](context.Background(), c, "/forbidden"); err == nil || !strings.Contains(err.Error(), "cannot list") {
		t.Fatalf("403: %v", err)
	}
	// a CA that is not the server's (every httptest server shares one certificate: make another)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA := filepath.Join(t.TempDir(), "other.crt")
	if err := os.WriteFile(wrongCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	c2, err := New(srv.URL, "", wrongCA, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := List[item](context.Background(), c2, "/things"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wrong CA: %v", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := New("", "", "", time.Second); err == nil {
		t.Fatal("in-cluster client without KUBERNETES_SERVICE_HOST")
	}
	if _, err := New("ftp://x", "", "", time.Second); err == nil {
		t.Fatal("ftp URL accepted")
	}
}
