package mqtt

import "testing"

func TestMatches(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/#", "a", true}, // the parent level (MQTT 3.1.1 4.7.1.2)
		{"a/#", "a/b", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"#", "a/b", true},
		{"#", "$SYS/x", false}, // wildcards at the first level skip $ topics
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/+", "a/b", true},
		{"a/+", "a", false},
		{"a/+", "a/b/c", false},
		{"a/+", "a/", true}, // an empty level is a level
		{"+", "a", true},
		{"+/+", "/a", true},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/#", "a/b", true},
		{"a/b/#", "a", false},
		{"$share/g/a/#", "a", true},
		{"$share/g/a/+", "a/b", true},
	}
	for _, c := range cases {
		if got := matches(c.filter, c.topic); got != c.want {
			t.Errorf("matches(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestValidFilter(t *testing.T) {
	for _, f := range []string{"a", "a/#", "#", "+", "a/+/b", "/", "+/+"} {
		if err := validFilter(f, false); err != nil {
			t.Errorf("validFilter(%q): %v", f, err)
		}
	}
	for _, f := range []string{"", "a#", "a/#/b", "a+", "a/b+/c", "#/a", "$share/g/a"} {
		if err := validFilter(f, false); err == nil {
			t.Errorf("validFilter(%q) accepted", f)
		}
	}
	if err := validFilter("$share/g/a/#", true); err != nil {
		t.Errorf("shared filter with MQTT 5: %v", err)
	}
	for _, f := range []string{"$share//a", "$share/g", "$share/g+/a"} {
		if err := validFilter(f, true); err == nil {
			t.Errorf("validFilter(%q) accepted", f)
		}
	}
}
