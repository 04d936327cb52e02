package image

import (
	"slices"
)

// DeleteItem is one entry of Docker's image delete response.
type DeleteItem struct {
	Untagged string `json:"Untagged,omitempty"`
	Deleted  string `json:"Deleted,omitempty"`
}

// containerUse is what the daemon reports about containers using an image.
type containerUse struct {
	id      string
	running bool
	used    bool
}

type deletePlan struct {
	untag  []string
	remove bool
}

// Delete implements `docker rmi` semantics. Deleting by tag untags, and
// removes the image once no tag remains (unless a container uses it, in
// which case it stays as a dangling image). Deleting by ID removes the
// image and all its tags; without force that fails when several tags
// remain or a stopped container uses it. A running container always
// blocks deletion. inUse (may be nil) reports a container using the image,
// preferably a running one. Blobs and layers left unreferenced are garbage
// collected, except layers still used by a container rootfs.
func (s *Store) Delete(ref string, force bool, inUse func(imageID string) (containerID string, running bool, used bool)) ([]DeleteItem, error) {
	s.mu.Lock()
	id, tagKey, err := s.resolveLocked(ref)
	var tags []string
	if err == nil {
		tags = s.idx.tagsOf(id)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Called without the lock so the daemon's callback may use the store.
	var use containerUse
	if inUse != nil {
		use.id, use.running, use.used = inUse(id)
	}
	byID := tagKey == "" || isIDPrefix(id, ref)
	var plan deletePlan
	if byID {
		plan, err = planDeleteByID(id, tags, force, use)
	} else {
		plan, err = planDeleteByTag(ref, id, tagKey, tags, force, use)
	}
	if err != nil {
		return nil, err
	}
	return s.applyDelete(id, plan)
}

func planDeleteByTag(ref, id, tagKey string, tags []string, force bool, use containerUse) (deletePlan, error) {
	if !force && len(tags) == 1 && use.used {
		// Untagging would leave a dangling image behind a container.
		return deletePlan{}, conflictf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
			ref, ShortID(use.id), ShortID(id))
	}
	plan := deletePlan{untag: []string{tagKey}}
	plan.remove = len(tags) <= 1 && !use.used
	return plan, nil
}

func planDeleteByID(id string, tags []string, force bool, use containerUse) (deletePlan, error) {
	if use.used && use.running {
		return deletePlan{}, conflictf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s",
			ShortID(id), ShortID(use.id))
	}
	if !force && len(tags) > 1 {
		return deletePlan{}, conflictf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", ShortID(id))
	}
	if !force && use.used {
		return deletePlan{}, conflictf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s",
			ShortID(id), ShortID(use.id))
	}
	return deletePlan{untag: tags, remove: true}, nil
}

func (s *Store) applyDelete(id string, plan deletePlan) ([]DeleteItem, error) {
	var items []DeleteItem
	s.mu.Lock()
	rec, ok := s.idx.Images[id]
	if !ok {
		s.mu.Unlock()
		return nil, notFoundImage(id)
	}
	err := s.commitLocked(false, func(ix *index) error {
		items = nil
		untag := plan.untag
		if plan.remove {
			untag = appendUnique(slices.Clone(untag), ix.tagsOf(id)...)
		}
		for _, t := range untag {
			if ix.Tags[t] == id {
				delete(ix.Tags, t)
				items = append(items, DeleteItem{Untagged: t})
			}
		}
		if plan.remove {
			delete(ix.Images, id)
		}
		return nil
	})
	if err == nil && plan.remove {
		delete(s.configs, id)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !plan.remove {
		return items, nil
	}
	s.logger.Info("deleted image", "id", id)
	items = append(items, DeleteItem{Deleted: id})
	removed, err := s.gc()
	if err != nil {
		// The image is gone; leftovers are retried by the next collection.
		s.logger.Warn("garbage collection after image delete", "image", id, "err", err)
	}
	chains := chainIDs(rec.Layers)
	for i := len(chains) - 1; i >= 0; i-- {
		if removed[hexOf(chains[i])] {
			items = append(items, DeleteItem{Deleted: chains[i]})
		}
	}
	return items, nil
}
