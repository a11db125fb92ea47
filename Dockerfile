# Build: docker build -t ssehub .
# Run:   docker run --rm -p 8080:8080 --ulimit nofile=20000:20000 ssehub
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ssehub .

FROM alpine:3.22
RUN adduser -D -H -u 10001 ssehub
COPY --from=build /out/ssehub /usr/local/bin/ssehub
COPY etc/ssehub.yaml /etc/ssehub/ssehub.yaml
USER ssehub
EXPOSE 8080
# SIGTERM ends every stream with a final retry line, then the process exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD wget -qO- http://127.0.0.1:8080/healthz >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/ssehub", "-f", "/etc/ssehub/ssehub.yaml"]
