package handler

import (
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"ssehub/internal/apierr"
	"ssehub/internal/svc"
)

type status struct {
	Status string `json:"status"`
}

// HealthzHandler answers while the process serves HTTP.
func HealthzHandler(w http.ResponseWriter, r *http.Request) {
	httpx.OkJsonCtx(r.Context(), w, status{Status: "ok"})
}

// ReadyzHandler answers 200 while the service takes new streams.
func ReadyzHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !svcCtx.Ready() {
			apierr.Write(w, r, apierr.Unavailable("not_ready", "draining or the event log is unreachable", retryAfter))
			return
		}
		httpx.OkJsonCtx(r.Context(), w, status{Status: "ready"})
	}
}
