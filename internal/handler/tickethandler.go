package handler

import (
	"errors"
	"net/http"

	"github.com/zeromicro/go-zero/rest/httpx"

	"ssehub/internal/apierr"
	"ssehub/internal/auth"
	"ssehub/internal/svc"
)

type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expiresIn"`
}

// TicketHandler serves POST /tickets: a bearer token buys one single-use
// ticket for GET /sse?ticket=..., for clients that cannot send headers.
func TicketHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := svcCtx.Auth.Bearer(r.Context())
		if err != nil {
			apierr.Write(w, r, unauthorized(err))
			return
		}
		if !svcCtx.TicketRate.Allow(id.Key) {
			apierr.Write(w, r, rateLimited(svcCtx.TicketRate))
			return
		}
		ticket, ttl, err := svcCtx.Auth.Issue(id)
		if errors.Is(err, auth.ErrInvalidToken) {
			err = unauthorized(err)
		}
		if err != nil {
			apierr.Write(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpx.OkJsonCtx(r.Context(), w, ticketResponse{Ticket: ticket, ExpiresIn: seconds(ttl)})
	}
}
