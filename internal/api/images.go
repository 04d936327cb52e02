package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
)

func (s *Server) imageRoutes() {
	m := s.mux
	m.HandleFunc("GET /images/json", s.listImages)
	m.HandleFunc("POST /images/create", s.createImage)
	m.HandleFunc("POST /images/load", s.loadImages)
	m.HandleFunc("GET /images/get", s.saveImages)
	m.HandleFunc("POST /images/prune", s.pruneImages)
	m.HandleFunc("GET /images/{rest...}", s.imageGet)
	m.HandleFunc("POST /images/{rest...}", s.imagePost)
	m.HandleFunc("DELETE /images/{rest...}", s.deleteImage)
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	list, err := s.d.ImageList()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// imageGet routes GET /images/{name}/json and /images/{name}/get; names may hold slashes.
func (s *Server) imageGet(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	switch {
	case strings.HasSuffix(rest, "/json"):
		img, err := s.d.ImageInspect(strings.TrimSuffix(rest, "/json"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, img)
	case strings.HasSuffix(rest, "/get"):
		s.save(w, r, []string{strings.TrimSuffix(rest, "/get")})
	default:
		writeError(w, errdefs.NotFoundf("page not found"))
	}
}

func (s *Server) imagePost(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	name, ok := strings.CutSuffix(rest, "/tag")
	if !ok {
		writeError(w, errdefs.NotImplementedf("%s is not supported by berth", r.URL.Path))
		return
	}
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		writeError(w, errdefs.Invalidf("repository name must have at least one component"))
		return
	}
	dst := repo
	if tag != "" {
		dst += ":" + tag
	}
	if err := s.d.ImageTag(name, dst); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// createImage is import (fromSrc=-). Pulling needs a registry, which this
// host may not reach: it fails at once with a clear message, never hangs.
func (s *Server) createImage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if from := q.Get("fromImage"); from != "" {
		ref := from
		if t := q.Get("tag"); t != "" {
			ref += ":" + t
		}
		writeError(w, errdefs.NotFoundf("pull access denied for %s: berth has no registry to pull from; create the image with `docker load` or `docker import`", ref))
		return
	}
	if q.Get("fromSrc") != "-" {
		writeError(w, errdefs.Invalidf("import from a URL is not supported; send the archive in the request body (fromSrc=-)"))
		return
	}
	ref := q.Get("repo")
	if t := q.Get("tag"); ref != "" && t != "" {
		ref += ":" + t
	}
	img, err := s.d.ImageImport(r.Context(), r.Body, ref, q["changes"], q.Get("message"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": img.ID})
}

func (s *Server) loadImages(w http.ResponseWriter, r *http.Request) {
	refs, err := s.d.ImageLoad(r.Context(), r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, line := range refs {
		enc.Encode(map[string]string{"stream": line + "\n"})
	}
}

func (s *Server) saveImages(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, r.URL.Query()["names"])
}

func (s *Server) save(w http.ResponseWriter, r *http.Request, refs []string) {
	for _, ref := range refs {
		if _, err := s.d.ImageGet(ref); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.d.ImageSave(r.Context(), refs, w); err != nil {
		s.log.Warn("image save", "err", err)
	}
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request) {
	items, err := s.d.ImageDelete(r.PathValue("rest"), boolParam(r, "force"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	all := false
	for _, v := range f["dangling"] {
		all = all || v == "false" || v == "0"
	}
	items, freed, err := s.d.ImagePrune(all)
	if err != nil {
		writeError(w, err)
		return
	}
	if items == nil {
		items = []image.DeleteItem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ImagesDeleted": items, "SpaceReclaimed": freed})
}
