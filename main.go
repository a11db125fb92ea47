// Command ssehub is a Server-Sent Events push service on go-zero.
//
//	ssehub [-f config]              serve
//	ssehub [-f config] healthcheck  ask the configured server's /healthz; exit 0 or 1
package main

import (
	"flag"
	"os"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/config"
	"ssehub/internal/healthcheck"
	"ssehub/internal/server"
)

var configFile = flag.String("f", "etc/ssehub.yaml", "the config file")

func main() {
	flag.Parse()
	if flag.Arg(0) == "healthcheck" {
		if err := healthcheck.Run(*configFile); err != nil {
			logx.Errorw("unhealthy", logx.Field("error", err.Error()))
			os.Exit(1)
		}
		return
	}

	var c config.Config
	conf.MustLoad(*configFile, &c, conf.UseEnv())

	srv, err := server.New(c)
	logx.Must(err)
	logx.Must(srv.Start(nil))
}
