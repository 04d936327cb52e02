package network

import (
	"net/netip"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	mobynet "github.com/moby/moby/api/types/network"
)

func TestValidateIPAM(t *testing.T) {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	tests := []struct {
		name string
		cfg  mobynet.IPAMConfig
		want string // "" for valid
	}{
		{"valid", mobynet.IPAMConfig{Subnet: p("10.1.0.0/16"), IPRange: p("10.1.2.0/24"), Gateway: a("10.1.0.254"),
			AuxAddress: map[string]netip.Addr{"printer": a("10.1.2.1")}}, ""},
		{"valid v6", mobynet.IPAMConfig{Subnet: p("fd00:1::/64"), Gateway: a("fd00:1::1")}, ""},
		{"host bits", mobynet.IPAMConfig{Subnet: p("10.1.0.1/16")},
			"invalid network config:\ninvalid subnet 10.1.0.1/16: it should be 10.1.0.0/16"},
		{"no subnet", mobynet.IPAMConfig{Gateway: a("10.1.0.1")},
			"invalid network config:\ninvalid subnet : invalid CIDR block notation"},
		{"gateway outside", mobynet.IPAMConfig{Subnet: p("10.1.0.0/16"), Gateway: a("10.2.0.1")},
			"invalid network config:\ninvalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"},
		{"gateway family", mobynet.IPAMConfig{Subnet: p("10.1.0.0/16"), Gateway: a("fd00::1")},
			"invalid network config:\ninvalid gateway fd00::1: parent subnet is an IPv4 block"},
		{"range outside", mobynet.IPAMConfig{Subnet: p("10.1.0.0/16"), IPRange: p("10.2.0.0/24")},
			"invalid network config:\ninvalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/16 doesn't contain ip-range"},
		{"range bigger", mobynet.IPAMConfig{Subnet: p("10.1.0.0/24"), IPRange: p("10.1.0.0/16")},
			"invalid network config:\ninvalid ip-range 10.1.0.0/16: CIDR block is bigger than its parent subnet 10.1.0.0/24"},
		{"aux outside", mobynet.IPAMConfig{Subnet: p("10.1.0.0/16"), AuxAddress: map[string]netip.Addr{"x": a("10.9.0.1")}},
			"invalid network config:\ninvalid auxiliary address x: parent subnet 10.1.0.0/16 doesn't contain this address"},
		{"several", mobynet.IPAMConfig{Subnet: p("10.1.0.1/16"), Gateway: a("10.2.0.1")},
			"invalid network config:\n* invalid subnet 10.1.0.1/16: it should be 10.1.0.0/16\n* invalid gateway 10.2.0.1: parent subnet 10.1.0.1/16 doesn't contain this address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateIPAM(&mobynet.IPAM{Config: []mobynet.IPAMConfig{tt.cfg}})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("validateIPAM(%+v) = %v, want nil", tt.cfg, err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("validateIPAM(%+v) = %v, want %q", tt.cfg, err, tt.want)
			case err != nil && !errdefs.Is(err, errdefs.InvalidParameter):
				t.Fatalf("validateIPAM(%+v) error is not an invalid parameter: %v", tt.cfg, err)
			}
		})
	}
}
