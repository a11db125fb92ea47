package hardening

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/testkit"
)

// selfSigned writes a fresh certificate for 127.0.0.1 and its key, and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ssehub test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startTLS runs a server with a fresh certificate and returns a client
// that trusts it; h2 chooses whether the client may speak HTTP/2.
func startTLS(t *testing.T, h2 bool) (*testkit.Instance, *http.Client) {
	return startTLSWith(t, h2, "")
}

func startTLSWith(t *testing.T, h2 bool, sse string) (*testkit.Instance, *http.Client) {
	t.Helper()
	certFile, keyFile, pool := selfSigned(t)
	inst := testkit.Start(t, testkit.Config(t, sse, "CertFile: "+certFile+"\nKeyFile: "+keyFile+"\n"))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return inst, &http.Client{Transport: tr}
}

func publishTLS(t *testing.T, client *http.Client, base, data string) {
	t.Helper()
	resp, err := client.Post(base+"/publish", "application/json",
		strings.NewReader(`{"topic":"news","data":`+data+`}`))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestStreamOverTLS(t *testing.T) {
	t.Parallel()
	inst, client := startTLS(t, false)
	require.Contains(t, inst.URL, "https://")
	s := testkit.DialWith(t, client, inst.URL+"/sse?topic=news", nil)
	require.Equal(t, http.StatusOK, s.Resp.StatusCode)
	require.Equal(t, 1, s.Resp.ProtoMajor)
	require.NotNil(t, s.Resp.TLS)
	s.Next(t)
	publishTLS(t, client, inst.URL, "1")
	publishTLS(t, client, inst.URL, "2")
	require.Equal(t, "1", s.NextOf(t, "message").Data)
	require.Equal(t, "2", s.NextOf(t, "message").Data)
}

// TestStreamOverHTTP2 also checks the Connection header go-zero's WithSSE
// sets is not sent: HTTP/2 forbids it (Go's server drops it).
func TestStreamOverHTTP2(t *testing.T) {
	t.Parallel()
	inst, client := startTLS(t, true)
	s := testkit.DialWith(t, client, inst.URL+"/sse?topic=news", nil)
	require.Equal(t, http.StatusOK, s.Resp.StatusCode)
	require.Equal(t, 2, s.Resp.ProtoMajor)
	require.Empty(t, s.Resp.Header.Get("Connection"))
	require.Equal(t, "text/event-stream", s.Resp.Header.Get("Content-Type"))
	s.Next(t)
	for _, d := range []string{"1", "2", "3"} {
		publishTLS(t, client, inst.URL, d)
	}
	for _, d := range []string{"1", "2", "3"} {
		require.Equal(t, d, s.NextOf(t, "message").Data)
	}
}

// TestQuietHTTP2StreamOutlivesWriteTimeout: HTTP/2 resets a stream whose
// write deadline passes even when nothing is being written, so the writer
// clears it after each flush; a quiet stream lives on to its heartbeat.
func TestQuietHTTP2StreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	inst, client := startTLSWith(t, true, "WriteTimeout: 300ms\nHeartbeatInterval: 1500ms")
	s := testkit.DialWith(t, client, inst.URL+"/sse?topic=news", nil)
	require.Equal(t, 2, s.Resp.ProtoMajor)
	require.Equal(t, "ok", s.Next(t).Comment)
	require.Equal(t, "ping", s.Next(t).Comment, "the stream lives past its write timeout to its heartbeat")
	publishTLS(t, client, inst.URL, "1")
	require.Equal(t, "1", s.NextOf(t, "message").Data)
}

func TestPlainHTTPToTLSPortFails(t *testing.T) {
	t.Parallel()
	inst, _ := startTLS(t, false)
	resp, body := do(t, http.MethodGet, "http"+inst.URL[len("https"):]+"/healthz", nil, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
}
