package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/zeromicro/go-zero/rest"

	"ssehub/internal/config"
)

// ErrBadOrigin says a Cors.Origins entry is not a plain origin.
var ErrBadOrigin = errors.New("Cors.Origins entries are scheme://host[:port], without path or wildcard")

// exposed are the response headers cross-site scripts may read.
const exposed = "Retry-After"

// corsOption answers CORS for the listed origins only, with credentials.
// go-zero treats an empty list as "every origin" and "*" as a listed origin
// that would get credentials, so both are kept out: no origins, no CORS.
func corsOption(c config.CorsConf) (rest.RunOption, error) {
	for _, o := range c.Origins {
		if err := checkOrigin(o); err != nil {
			return nil, err
		}
	}
	if len(c.Origins) == 0 {
		return func(*rest.Server) {}, nil
	}
	return rest.WithCustomCors(func(h http.Header) {
		// go-zero calls this for every request; only an allowed origin has
		// Access-Control-Allow-Origin set by now, and only it gets more.
		if h.Get("Access-Control-Allow-Origin") == "" {
			return
		}
		h.Add("Access-Control-Allow-Headers", "Last-Event-ID")
		h.Add("Access-Control-Expose-Headers", exposed)
	}, nil, c.Origins...), nil
}

// checkOrigin accepts what a browser sends as Origin. go-zero also lets
// subdomains of a listed entry through; with a scheme in every entry, no
// browser origin can be such a subdomain.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, "*") ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.String() != o {
		return fmt.Errorf("%w: %q", ErrBadOrigin, o)
	}
	return nil
}
