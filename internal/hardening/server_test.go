package hardening

import (
	"ssehub/internal/config"
	"ssehub/internal/server"
)

func newServer(c config.Config) (*server.Server, error) {
	return server.New(c)
}
