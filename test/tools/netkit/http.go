package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

func runHTTP(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("http", stderr)
	addr := fs.String("l", ":80", "listen address")
	body := fs.String("body", "hello from netkit\n", `response body for every path (\n etc. are unescaped)`)
	if _, err := parseArgs(fs, args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "http:", err)
		return 1
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: bodyHandler(unescape(*body)), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(stderr, "http:", srv.Serve(ln))
	return 1
}

func bodyHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, body)
	})
}
