# ssehub's image: the static binary in an empty base, so building it pulls
# nothing from any registry. The build context is bin/image, which
# `make image` stages (the binary, the CA bundle, etc/ssehub.yaml) before it
# runs `docker build` or `podman build` on this file.
FROM scratch
# Redis over TLS (Redis.TLS) verifies the server against these.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY ssehub.yaml /etc/ssehub/ssehub.yaml
COPY ssehub /usr/local/bin/ssehub
# A numeric non-root user: the image has no /etc/passwd and needs none.
USER 10001:10001
EXPOSE 8080
# SIGTERM ends every stream with a final retry line, then the process exits 0.
STOPSIGNAL SIGTERM
# No shell or HTTP client in the image: the binary asks its own /healthz, on
# the port the same config file names.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/ssehub", "-f", "/etc/ssehub/ssehub.yaml", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/ssehub", "-f", "/etc/ssehub/ssehub.yaml"]
