// Package healthcheck is the container's liveness probe. The image has no
// shell and no HTTP client, so the binary asks its own /healthz: it reads the
// server's config file to learn where the server listens.
package healthcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/rest"
)

// Timeout bounds one check, below the image's HEALTHCHECK --timeout, so a
// hung server is reported by the check itself rather than by the engine.
const Timeout = 2 * time.Second

// Run loads the config at path (as the server does, with environment
// expansion) and checks the server it describes.
func Run(path string) error {
	// Only the listener's settings matter here; the rest of the file is
	// the server's to validate.
	var c rest.RestConf
	if err := conf.Load(path, &c, conf.UseEnv()); err != nil {
		return fmt.Errorf("healthcheck: load %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return Check(ctx, URL(c))
}

// URL is the /healthz address of the server c configures. A server bound to
// every interface is asked on loopback.
func URL(c rest.RestConf) string {
	host := c.Host
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if c.CertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(c.Port)) + "/healthz"
}

// Check asks url once and succeeds only on 200.
func Check(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{
		// The certificate names the public host, not the address asked
		// here; the probe sends nothing secret and only reads a status.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, resp.StatusCode)
	}
	return nil
}
