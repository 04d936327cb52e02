package api

import (
	"context"
	"net/http"
	"strconv"

	mobycontainer "github.com/moby/moby/api/types/container"
)

func (s *Server) createExec(w http.ResponseWriter, r *http.Request) {
	var req mobycontainer.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	id, err := s.d.ExecCreate(r.PathValue("id"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, mobycontainer.ExecCreateResponse{ID: id})
}

func (s *Server) startExec(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req mobycontainer.ExecStartRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	tty, err := s.d.ExecIsTTY(id)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.ConsoleSize != nil && tty {
		s.d.ExecResize(id, uint16(req.ConsoleSize[0]), uint16(req.ConsoleSize[1]))
	}
	if req.Detach {
		go s.d.ExecStart(context.Background(), id, nil, nil, nil)
		w.WriteHeader(http.StatusOK)
		return
	}
	conn, rw, err := hijack(w, r)
	if err != nil {
		return
	}
	defer conn.Close()
	fw := &frameWriter{w: conn, raw: tty}
	out, errw := streamWriter{fw, 1}, streamWriter{fw, 2}
	if err := s.d.ExecStart(context.Background(), id, rw.Reader, out, errw); err != nil {
		fw.write(2, []byte(err.Error()+"\n"))
	}
	closeWrite(conn)
}

func (s *Server) resizeExec(w http.ResponseWriter, r *http.Request) {
	h, _ := strconv.Atoi(r.URL.Query().Get("h"))
	wd, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if err := s.d.ExecResize(r.PathValue("id"), uint16(h), uint16(wd)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) inspectExec(w http.ResponseWriter, r *http.Request) {
	e, err := s.d.ExecInspect(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}
