package weights

import (
	"strings"
	"testing"
)

// TestScanPickle: well-formed pickles pass; hostile length prefixes are caught
// before gopickle would allocate them.
func TestScanPickle(t *testing.T) {
	for name, c := range map[string]struct {
		pkl  string
		want string // "" = valid
	}{
		"proto2 int":       {"\x80\x02K\x05.", ""},
		"frame + unicode":  {"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8c\x03abc\x94.", ""},
		"global":           {"ctorch._utils\n_rebuild_tensor_v2\n.", ""},
		"huge binunicode8": {"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\x00\x00.", "overruns"},
		"huge binbytes":    {"\x80\x03B\xff\xff\xff\x7f.", "overruns"},
		"huge frame":       {"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7f.", "overruns"},
		"unterminated":     {"\x80\x02I123", "unterminated"},
		"unknown opcode":   {"\x80\x02\xff.", "unknown opcode"},
		"no stop":          {"\x80\x02K\x05", "STOP"},
	} {
		err := scanPickle([]byte(c.pkl))
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
