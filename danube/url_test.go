package danube

import "testing"

func TestParseBrokerURL(t *testing.T) {
	tests := []struct {
		name, in, def string
		want          brokerURL
		wantErr       bool
	}{
		{name: "http", in: "http://127.0.0.1:6650", want: brokerURL{key: "http://127.0.0.1:6650", target: "127.0.0.1:6650"}},
		{name: "https", in: "https://broker.example:6651", want: brokerURL{key: "https://broker.example:6651", secure: true, target: "broker.example:6651"}},
		{name: "trailing slash", in: "http://localhost:6650/", want: brokerURL{key: "http://localhost:6650", target: "localhost:6650"}},
		{name: "upper case scheme", in: "HTTP://h:1", want: brokerURL{key: "http://h:1", target: "h:1"}},
		{name: "default http port", in: "http://h", want: brokerURL{key: "http://h:80", target: "h:80"}},
		{name: "default https port", in: "https://h", want: brokerURL{key: "https://h:443", secure: true, target: "h:443"}},
		{name: "ipv6", in: "http://[::1]:6650", want: brokerURL{key: "http://[::1]:6650", target: "[::1]:6650"}},
		{name: "no scheme with default", in: "h:6650", def: "https", want: brokerURL{key: "https://h:6650", secure: true, target: "h:6650"}},
		{name: "no scheme", in: "h:6650", wantErr: true},
		{name: "grpc scheme", in: "grpc://h:6650", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "path", in: "http://h:1/api", wantErr: true},
		{name: "no host", in: "http://:6650", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBrokerURL(tc.in, tc.def)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseBrokerURL(%q) = %+v, want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseBrokerURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestValidateTopic(t *testing.T) {
	for _, ok := range []string{"/default/orders", "/ns_1/t-2", "/défaut/ordres"} {
		if err := validateTopic(ok); err != nil {
			t.Errorf("validateTopic(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "default/orders", "/default", "/a/b/c", "//t", "/ns/", "/ns/a.b", "/ns/a b", "x/ns/t"} {
		if err := validateTopic(bad); err == nil {
			t.Errorf("validateTopic(%q) = nil, want error", bad)
		}
	}
}
