package daemon

import (
	"strings"
	"testing"
	"time"

	mobynet "github.com/moby/moby/api/types/network"
)

func testNetworks() []mobynet.Inspect {
	mk := func(name, driver string, labels map[string]string, containers int, created time.Time) mobynet.Inspect {
		n := mobynet.Inspect{Network: mobynet.Network{
			Name: name, ID: strings.Repeat(name[:1], 64), Driver: driver, Scope: "local",
			Labels: labels, Options: map[string]string{}, Created: created,
		}, Containers: map[string]mobynet.EndpointResource{}}
		for i := range containers {
			n.Containers[string(rune('a'+i))] = mobynet.EndpointResource{}
		}
		return n
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bridge := mk("bridge", "bridge", nil, 1, old)
	bridge.Options["com.docker.network.bridge.default_bridge"] = "true"
	return []mobynet.Inspect{
		bridge,
		mk("host", "host", nil, 0, old),
		mk("none", "null", nil, 0, old),
		mk("front", "bridge", map[string]string{"tier": "a", "env": "prod"}, 0, old),
		mk("back", "bridge", map[string]string{"tier": "b"}, 2, now),
		mk("spare", "bridge", nil, 0, now),
	}
}

func names(ns []mobynet.Inspect) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return strings.Join(out, " ")
}

func TestFilterNetworks(t *testing.T) {
	tests := []struct {
		filters map[string][]string
		want    string
	}{
		{nil, "bridge host none front back spare"},
		{map[string][]string{"name": {"r"}}, "bridge front spare"},
		{map[string][]string{"name": {"^b"}}, "bridge back"},
		{map[string][]string{"name": {"front", "spare"}}, "front spare"},
		{map[string][]string{"id": {"^fff"}}, "front"},
		{map[string][]string{"driver": {"bridge"}}, "bridge front back spare"},
		{map[string][]string{"driver": {"brid"}}, ""},
		{map[string][]string{"label": {"tier"}}, "front back"},
		{map[string][]string{"label": {"tier", "env=prod"}}, "front"},
		{map[string][]string{"label": {"tier=b"}}, "back"},
		{map[string][]string{"type": {"builtin"}}, "bridge host none"},
		{map[string][]string{"type": {"custom"}}, "front back spare"},
		{map[string][]string{"type": {"custom", "builtin"}}, "bridge host none front back spare"},
		{map[string][]string{"dangling": {"true"}}, "front spare"},
		{map[string][]string{"dangling": {"0"}}, "bridge host none back"},
		{map[string][]string{"scope": {"local"}, "name": {"one"}}, "none"},
	}
	for _, tt := range tests {
		got, err := FilterNetworks(testNetworks(), tt.filters)
		if err != nil || names(got) != tt.want {
			t.Errorf("FilterNetworks(%v) = %q, %v, want %q", tt.filters, names(got), err, tt.want)
		}
	}
}

func TestFilterNetworksErrors(t *testing.T) {
	for _, tt := range []struct {
		filters map[string][]string
		want    string
	}{
		{map[string][]string{"color": {"red"}}, "invalid filter 'color'"},
		{map[string][]string{"type": {"odd"}}, "invalid filter: 'type'='odd'"},
		{map[string][]string{"dangling": {"maybe"}}, `invalid value for filter 'dangling'`},
		{map[string][]string{"dangling": {"true", "false"}}, `more than one value for filter key "dangling"`},
		{map[string][]string{"name": {"("}}, "invalid filter value"},
	} {
		if _, err := FilterNetworks(testNetworks(), tt.filters); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FilterNetworks(%v) error = %v, want %q", tt.filters, err, tt.want)
		}
	}
}

func TestPruneMatcher(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	tests := []struct {
		filters map[string][]string
		want    string
	}{
		{nil, "bridge host none front back spare"},
		{map[string][]string{"label": {"tier"}}, "front back"},
		{map[string][]string{"label!": {"tier=a"}}, "bridge host none back spare"},
		{map[string][]string{"label": {"tier"}, "label!": {"env"}}, "back"},
		{map[string][]string{"until": {"1h"}}, "bridge host none front"},
		{map[string][]string{"until": {"2025-06-01"}}, "bridge host none front"},
		{map[string][]string{"until": {"1767225600"}}, "bridge host none front back spare"},
	}
	for _, tt := range tests {
		match, err := pruneMatcher(tt.filters, now)
		if err != nil {
			t.Errorf("pruneMatcher(%v): %v", tt.filters, err)
			continue
		}
		var got []mobynet.Inspect
		for _, n := range testNetworks() {
			if match(n) {
				got = append(got, n)
			}
		}
		if names(got) != tt.want {
			t.Errorf("pruneMatcher(%v) keeps %q, want %q", tt.filters, names(got), tt.want)
		}
	}
	for _, f := range []map[string][]string{{"name": {"x"}}, {"until": {"soon"}}, {"until": {"1h", "2h"}}} {
		if _, err := pruneMatcher(f, now); err == nil {
			t.Errorf("pruneMatcher(%v) accepted an invalid filter", f)
		}
	}
}
