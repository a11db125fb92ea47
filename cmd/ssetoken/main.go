// Command ssetoken mints an HS256 token for ssehub, for development and
// tests: ssetoken -sub 'news,orders/*' -pub news -ttl 1h. The secret comes
// from -secret or, better (it stays out of the shell history and ps),
// SSEHUB_JWT_SECRET.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"ssehub/internal/auth"
)

func main() {
	secret := flag.String("secret", "", "HS256 secret (default $SSEHUB_JWT_SECRET)")
	subject := flag.String("subject", "dev", "the token's sub claim")
	sub := flag.String("sub", "", "comma-separated topics the token may subscribe to (\"*\", \"orders/*\" allowed)")
	pub := flag.String("pub", "", "comma-separated topics the token may publish to")
	ttl := flag.Duration("ttl", time.Hour, "how long the token is valid")
	flag.Parse()
	if err := run(*secret, *subject, *sub, *pub, *ttl); err != nil {
		fmt.Fprintln(os.Stderr, "ssetoken:", err)
		os.Exit(2)
	}
}

func run(secret, subject, sub, pub string, ttl time.Duration) error {
	if secret == "" {
		secret = os.Getenv("SSEHUB_JWT_SECRET")
	}
	if len(secret) < auth.MinSecretLen {
		return auth.ErrWeakSecret
	}
	if ttl <= 0 {
		return errors.New("-ttl must be positive")
	}
	grants := auth.Grants{Subscribe: list(sub), Publish: list(pub)}
	for _, l := range [][]string{grants.Subscribe, grants.Publish} {
		if _, err := auth.ParsePatterns(l); err != nil {
			return err
		}
	}
	tok, err := auth.Mint(secret, subject, grants, ttl)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	fmt.Println(tok)
	return nil
}

func list(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}
