// Package hardening holds ssehub's end-to-end security tests: tokens and
// tickets, TLS and HTTP/2, CORS, per-client limits, and one test per attack
// against a real server, each proving a connected client is unharmed.
package hardening
