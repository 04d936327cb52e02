package container

import (
	"fmt"
	"time"

	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Status is a container's lifecycle state, named as the Engine API names it.
type Status string

// The states a container moves through.
const (
	Created    Status = "created"
	Running    Status = "running"
	Restarting Status = "restarting"
	Removing   Status = "removing"
	Exited     Status = "exited"
	Dead       Status = "dead"
)

// transitions lists, for each state, the states it may move to.
var transitions = map[Status][]Status{
	Created:    {Running, Removing, Exited},
	Running:    {Exited, Restarting},
	Restarting: {Running, Exited},
	Exited:     {Running, Removing, Restarting},
	Removing:   {Dead},
	Dead:       {},
}

// StateError is a refused transition, worded as Docker words them.
type StateError struct {
	Name string
	Verb string
	From Status
}

func (e *StateError) Error() string {
	switch e.From {
	case Running:
		return fmt.Sprintf("cannot %s container %s: container is running", e.Verb, e.Name)
	case Removing:
		return fmt.Sprintf("cannot %s container %s: removal of container is already in progress", e.Verb, e.Name)
	default:
		return fmt.Sprintf("cannot %s container %s: container is %s", e.Verb, e.Name, e.From)
	}
}

// CanMove reports whether from may move to to.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// State is the persisted runtime state.
type State struct {
	Status       Status
	Pid          int
	ExitCode     int
	Error        string    `json:",omitempty"`
	OOMKilled    bool      `json:",omitempty"`
	StartedAt    time.Time `json:",omitzero"`
	FinishedAt   time.Time `json:",omitzero"`
	ManualStop   bool      `json:",omitempty"`
	RestartCount int       `json:",omitempty"`
}

// Endpoint is a container's attachment to one network, as recorded.
type Endpoint struct {
	NetworkID   string
	NetworkName string
	EndpointID  string
	IfName      string // inside the container
	HostIfName  string // host end of the veth pair
	IPv4        string `json:",omitempty"` // address/prefix
	IPv6        string `json:",omitempty"`
	Gateway4    string `json:",omitempty"`
	Gateway6    string `json:",omitempty"`
	MAC         string `json:",omitempty"`
	Aliases     []string
	StaticIPv4  string `json:",omitempty"`
	StaticIPv6  string `json:",omitempty"`
	StaticMAC   string `json:",omitempty"`
}

// Record is everything the daemon persists about a container.
type Record struct {
	ID         string
	Name       string // without the leading "/"
	Created    time.Time
	Image      string // as the user gave it
	ImageID    string
	Path       string
	Args       []string
	Config     mobycontainer.Config
	HostConfig mobycontainer.HostConfig
	// NetworkConfig holds the endpoint settings asked for at create or connect, per network name.
	NetworkConfig map[string]*network.EndpointSettings
	State         State
	Endpoints     []Endpoint    `json:",omitempty"`
	Ports         []PortBinding `json:",omitempty"`
	SandboxKey    string        `json:",omitempty"`
}

// PortBinding is one published port as it is in effect.
type PortBinding struct {
	Proto         string
	HostIP        string
	HostPort      uint16
	HostPortEnd   uint16
	ContainerPort uint16
	ContainerEnd  uint16
}

// ShortID is the 12-character id Docker shows.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
