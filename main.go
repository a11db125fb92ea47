// Command ssehub is a Server-Sent Events push service on go-zero.
package main

import (
	"flag"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/config"
	"ssehub/internal/server"
)

var configFile = flag.String("f", "etc/ssehub.yaml", "the config file")

func main() {
	flag.Parse()

	var c config.Config
	conf.MustLoad(*configFile, &c, conf.UseEnv())

	srv, err := server.New(c)
	logx.Must(err)
	logx.Must(srv.Start(nil))
}
