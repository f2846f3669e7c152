package topicname

import "testing"

func TestCheck(t *testing.T) {
	for name, want := range map[string]bool{
		"/default/orders":        true,
		"/default/orders-part-3": true,
		"/ns_1/t-2":              true,
		"/défaut/überall":        true,
		"default/orders":         false,
		"/default":               false,
		"/default/":              false,
		"//orders":               false,
		"/default/or ders":       false,
		"/default/a/b":           false,
		"/default/a.b":           false,
		"":                       false,
	} {
		if got := Valid(name); got != want {
			t.Errorf("Valid(%q) = %v, want %v (%v)", name, got, want, Check(name))
		}
	}
}
