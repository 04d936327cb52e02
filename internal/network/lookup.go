package network

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	mobynet "github.com/moby/moby/api/types/network"
)

// isPredefined reports the pseudo networks that have no bridge.
func isPredefined(name string) bool { return name == "host" || name == "none" }

// pseudoID gives host and none stable ids.
func pseudoID(name string) string {
	sum := sha256.Sum256([]byte("berth-network-" + name))
	return hex.EncodeToString(sum[:])
}

func pseudoNetwork(name string) mobynet.Inspect {
	driver := name
	if name == "none" {
		driver = "null"
	}
	return mobynet.Inspect{
		Network: mobynet.Network{
			Name: name, ID: pseudoID(name), Scope: "local", Driver: driver, EnableIPv4: true,
			IPAM:    mobynet.IPAM{Driver: "default", Options: map[string]string{}, Config: []mobynet.IPAMConfig{}},
			Options: map[string]string{}, Labels: map[string]string{}, Created: time.Unix(0, 0).UTC(),
		},
		Containers: map[string]mobynet.EndpointResource{},
	}
}

func (m *Manager) byNameLocked(name string) *netState {
	for _, n := range m.nets {
		if n.rec.Name == name {
			return n
		}
	}
	return nil
}

// getLocked resolves a network by name, full id or unique id prefix.
func (m *Manager) getLocked(ref string) (*netState, error) {
	if n, ok := m.nets[ref]; ok {
		return n, nil
	}
	if n := m.byNameLocked(ref); n != nil {
		return n, nil
	}
	var found *netState
	if ref != "" {
		for id, n := range m.nets {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, errdefs.Invalidf("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2)
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, errdefs.NotFoundf("network %s not found", ref)
	}
	return found, nil
}

// Inspect returns the Docker-shaped view of a network.
func (m *Manager) Inspect(ref string) (mobynet.Inspect, error) {
	for _, p := range []string{"host", "none"} {
		if ref == p || ref == pseudoID(p) || (len(ref) >= 12 && strings.HasPrefix(pseudoID(p), ref)) {
			return pseudoNetwork(p), nil
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(ref)
	if err != nil {
		return mobynet.Inspect{}, err
	}
	return n.inspect(), nil
}

// List returns every network (bridges and the host and none pseudo networks).
func (m *Manager) List() []mobynet.Inspect {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []mobynet.Inspect{}
	for _, n := range sortedNets(m.nets) {
		out = append(out, n.inspect())
	}
	return append(out, pseudoNetwork("host"), pseudoNetwork("none"))
}

// Exists reports whether ref names a network containers can join.
func (m *Manager) Exists(ref string) error {
	if isPredefined(ref) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.getLocked(ref)
	return err
}

// Name returns the canonical name of a network reference.
func (m *Manager) Name(ref string) (string, error) {
	if isPredefined(ref) {
		return ref, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(ref)
	if err != nil {
		return "", err
	}
	return n.rec.Name, nil
}

// IsUserDefined reports whether ref is a network with the embedded resolver.
func (m *Manager) IsUserDefined(ref string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.getLocked(ref)
	return err == nil && !n.rec.Default
}
