// Package kube is a small read-only Kubernetes API client: GET and list with the pod's service
// account token, nothing else. The metrics daemon needs two lists (whereabouts IPPools and
// NetworkAttachmentDefinitions), which do not justify client-go.
package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// In-cluster defaults (what the kubelet mounts into every pod with a service account).
const (
	ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	DefaultTokenFile  = ServiceAccountDir + "/token"
	DefaultCAFile     = ServiceAccountDir + "/ca.crt"
)

// Client talks to one API server.
type Client struct {
	Base      string // scheme://host:port
	TokenFile string // read on every request: projected tokens rotate
	HTTP      *http.Client
}

// ErrNotFound is returned for a 404 (for a list: the resource type is not served, e.g. the
// CRD is not installed).
var ErrNotFound = errors.New("not found")

// New builds a client. An empty server means in-cluster: https://$KUBERNETES_SERVICE_HOST:
// $KUBERNETES_SERVICE_PORT. caFile may be empty for a plain-HTTP server.
func New(server, tokenFile, caFile string, timeout time.Duration) (*Client, error) {
	if server == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, errors.New("not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no API server given")
		}
		server = "https://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("API server %q is not an http(s) URL", server)
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConns: 2, IdleConnTimeout: time.Minute}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{Base: strings.TrimRight(server, "/"), TokenFile: tokenFile,
		HTTP: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// Get decodes the JSON at path (e.g. "/apis/group/v1/things") into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.TokenFile != "" {
		tok, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return fmt.Errorf("service account token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("GET %s: %w", path, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		var st struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &st)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, st.Message)
	}
	return json.Unmarshal(body, out)
}

// List fetches every item of a collection (path without a query), following "continue"
// tokens, 500 items a page.
func List[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	cont := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cont != "" {
			q.Set("continue", cont)
		}
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []T `json:"items"`
		}
		if err := c.Get(ctx, path+"?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Metadata.Continue == "" {
			return all, nil
		}
		cont = page.Metadata.Continue
	}
}
