package wire_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/danube-connect/connect/internal/wire/danubepb"
	"github.com/danube-connect/connect/internal/wire/schemapb"
)

// The tables below restate the Danube v0.15.1 protocol (services, methods, message fields and
// enum numbers). The test fails when a generated descriptor drifts from them.

type field struct {
	name     string
	number   protoreflect.FieldNumber
	kind     string // scalar kind, "message:<full name>", "enum:<full name>" or "map"
	repeated bool
	optional bool // proto3 explicit presence (optional keyword or oneof member)
}

type method struct {
	path            string
	input, output   string
	serverStreaming bool
}

var methods = []method{
	{"/danube.ProducerService/CreateProducer", "danube.ProducerRequest", "danube.ProducerResponse", false},
	{"/danube.ProducerService/SendMessage", "danube.StreamMessage", "danube.MessageResponse", false},
	{"/danube.ConsumerService/Subscribe", "danube.ConsumerRequest", "danube.ConsumerResponse", false},
	{"/danube.ConsumerService/ReceiveMessages", "danube.ReceiveRequest", "danube.StreamMessage", true},
	{"/danube.ConsumerService/Ack", "danube.AckRequest", "danube.AckResponse", false},
	{"/danube.ConsumerService/Nack", "danube.NackRequest", "danube.NackResponse", false},
	{"/danube.Discovery/TopicLookup", "danube.TopicLookupRequest", "danube.TopicLookupResponse", false},
	{"/danube.Discovery/TopicPartitions", "danube.TopicLookupRequest", "danube.TopicPartitionsResponse", false},
	{"/danube.HealthCheck/HealthCheck", "danube.HealthCheckRequest", "danube.HealthCheckResponse", false},
	{"/danube.StorageService/ListSegmentDescriptors", "danube.ListSegmentDescriptorsRequest", "danube.ListSegmentDescriptorsResponse", false},
	{"/danube_schema.SchemaRegistry/RegisterSchema", "danube_schema.RegisterSchemaRequest", "danube_schema.RegisterSchemaResponse", false},
	{"/danube_schema.SchemaRegistry/GetSchema", "danube_schema.GetSchemaRequest", "danube_schema.GetSchemaResponse", false},
	{"/danube_schema.SchemaRegistry/GetLatestSchema", "danube_schema.GetLatestSchemaRequest", "danube_schema.GetSchemaResponse", false},
	{"/danube_schema.SchemaRegistry/ListVersions", "danube_schema.ListVersionsRequest", "danube_schema.ListVersionsResponse", false},
	{"/danube_schema.SchemaRegistry/CheckCompatibility", "danube_schema.CheckCompatibilityRequest", "danube_schema.CheckCompatibilityResponse", false},
	{"/danube_schema.SchemaRegistry/DeleteSchemaVersion", "danube_schema.DeleteSchemaVersionRequest", "danube_schema.DeleteSchemaVersionResponse", false},
	{"/danube_schema.SchemaRegistry/SetCompatibilityMode", "danube_schema.SetCompatibilityModeRequest", "danube_schema.SetCompatibilityModeResponse", false},
	{"/danube_schema.SchemaRegistry/ConfigureTopicSchema", "danube_schema.ConfigureTopicSchemaRequest", "danube_schema.ConfigureTopicSchemaResponse", false},
	{"/danube_schema.SchemaRegistry/UpdateTopicValidationPolicy", "danube_schema.UpdateTopicValidationPolicyRequest", "danube_schema.UpdateTopicValidationPolicyResponse", false},
	{"/danube_schema.SchemaRegistry/GetTopicSchemaConfig", "danube_schema.GetTopicSchemaConfigRequest", "danube_schema.GetTopicSchemaConfigResponse", false},
	{"/danube_schema.SchemaRegistry/ListSubjects", "danube_schema.ListSubjectsRequest", "danube_schema.ListSubjectsResponse", false},
}

var messages = map[string][]field{
	"danube.ProducerRequest": {
		{"request_id", 1, "uint64", false, false},
		{"producer_name", 2, "string", false, false},
		{"topic_name", 3, "string", false, false},
		{"schema_ref", 4, "message:danube.SchemaReference", false, true},
		{"producer_access_mode", 5, "enum:danube.ProducerAccessMode", false, false},
		{"dispatch_strategy", 6, "enum:danube.DispatchStrategy", false, false},
	},
	"danube.SchemaReference": {
		{"subject", 1, "string", false, false},
		{"use_latest", 2, "bool", false, true},
		{"pinned_version", 3, "uint32", false, true},
		{"min_version", 4, "uint32", false, true},
	},
	"danube.ProducerResponse": {
		{"request_id", 1, "uint64", false, false},
		{"producer_id", 2, "uint64", false, false},
		{"producer_name", 3, "string", false, false},
	},
	"danube.MessageResponse": {{"request_id", 1, "uint64", false, false}},
	"danube.ConsumerRequest": {
		{"request_id", 1, "uint64", false, false},
		{"topic_name", 2, "string", false, false},
		{"consumer_name", 3, "string", false, false},
		{"subscription", 4, "string", false, false},
		{"subscription_type", 5, "enum:danube.ConsumerRequest.SubscriptionType", false, false},
		{"key_filters", 6, "string", true, false},
	},
	"danube.ConsumerResponse": {
		{"request_id", 1, "uint64", false, false},
		{"consumer_id", 2, "uint64", false, false},
		{"consumer_name", 3, "string", false, false},
	},
	"danube.ReceiveRequest": {
		{"request_id", 1, "uint64", false, false},
		{"consumer_id", 2, "uint64", false, false},
	},
	"danube.StreamMessage": {
		{"request_id", 1, "uint64", false, false},
		{"msg_id", 2, "message:danube.MsgID", false, true},
		{"payload", 3, "bytes", false, false},
		{"publish_time", 4, "uint64", false, false},
		{"producer_name", 5, "string", false, false},
		{"subscription_name", 6, "string", false, false},
		{"attributes", 7, "map", false, false},
		{"schema_id", 8, "uint64", false, true},
		{"schema_version", 9, "uint32", false, true},
		{"routing_key", 10, "string", false, true},
	},
	"danube.MsgID": {
		{"producer_id", 1, "uint64", false, false},
		{"topic_name", 2, "string", false, false},
		{"broker_addr", 3, "string", false, false},
		{"topic_offset", 5, "uint64", false, false},
	},
	"danube.AckRequest": {
		{"request_id", 1, "uint64", false, false},
		{"msg_id", 2, "message:danube.MsgID", false, true},
		{"subscription_name", 3, "string", false, false},
	},
	"danube.AckResponse": {{"request_id", 1, "uint64", false, false}},
	"danube.NackRequest": {
		{"request_id", 1, "uint64", false, false},
		{"msg_id", 2, "message:danube.MsgID", false, true},
		{"subscription_name", 3, "string", false, false},
		{"delay_ms", 4, "uint64", false, true},
		{"reason", 5, "string", false, true},
	},
	"danube.NackResponse": {{"request_id", 1, "uint64", false, false}},
	"danube.TopicLookupRequest": {
		{"request_id", 1, "uint64", false, false},
		{"topic", 2, "string", false, false},
	},
	"danube.TopicLookupResponse": {
		{"request_id", 3, "uint64", false, false},
		{"response_type", 4, "enum:danube.TopicLookupResponse.LookupType", false, false},
		{"connect_url", 5, "string", false, false},
		{"broker_url", 6, "string", false, false},
		{"proxy", 7, "bool", false, false},
	},
	"danube.TopicPartitionsResponse": {
		{"request_id", 1, "uint64", false, false},
		{"partitions", 2, "string", true, false},
	},
	"danube.HealthCheckRequest": {
		{"request_id", 1, "uint64", false, false},
		{"client", 2, "enum:danube.HealthCheckRequest.ClientType", false, false},
		{"id", 3, "uint64", false, false},
	},
	"danube.HealthCheckResponse": {
		{"status", 1, "enum:danube.HealthCheckResponse.ClientStatus", false, false},
	},
	"danube.ListSegmentDescriptorsRequest": {
		{"topic", 1, "string", false, false},
		{"after_offset", 2, "uint64", false, false},
	},
	"danube.ListSegmentDescriptorsResponse": {
		{"segments", 1, "message:danube.SegmentDescriptorProto", true, false},
	},
	"danube.SegmentDescriptorProto": {
		{"segment_id", 1, "string", false, false},
		{"start_offset", 2, "uint64", false, false},
		{"end_offset", 3, "uint64", false, false},
		{"size", 4, "uint64", false, false},
		{"etag", 5, "string", false, false},
		{"created_at", 6, "uint64", false, false},
	},
	"danube_schema.RegisterSchemaRequest": {
		{"subject", 1, "string", false, false},
		{"schema_type", 2, "string", false, false},
		{"schema_definition", 3, "bytes", false, false},
		{"description", 4, "string", false, false},
		{"created_by", 5, "string", false, false},
		{"tags", 6, "string", true, false},
	},
	"danube_schema.RegisterSchemaResponse": {
		{"schema_id", 1, "uint64", false, false},
		{"version", 2, "uint32", false, false},
		{"is_new_version", 3, "bool", false, false},
		{"fingerprint", 4, "string", false, false},
	},
	"danube_schema.GetSchemaRequest": {
		{"schema_id", 1, "uint64", false, false},
		{"version", 2, "uint32", false, true},
	},
	"danube_schema.GetSchemaResponse": {
		{"schema_id", 1, "uint64", false, false},
		{"version", 2, "uint32", false, false},
		{"subject", 3, "string", false, false},
		{"schema_type", 4, "string", false, false},
		{"schema_definition", 5, "bytes", false, false},
		{"description", 6, "string", false, false},
		{"created_at", 7, "uint64", false, false},
		{"created_by", 8, "string", false, false},
		{"tags", 9, "string", true, false},
		{"fingerprint", 10, "string", false, false},
		{"compatibility_mode", 11, "string", false, false},
	},
	"danube_schema.GetLatestSchemaRequest": {{"subject", 1, "string", false, false}},
	"danube_schema.ListVersionsRequest":    {{"subject", 1, "string", false, false}},
	"danube_schema.ListVersionsResponse": {
		{"versions", 1, "message:danube_schema.SchemaVersionInfo", true, false},
	},
	"danube_schema.SchemaVersionInfo": {
		{"version", 1, "uint32", false, false},
		{"created_at", 2, "uint64", false, false},
		{"created_by", 3, "string", false, false},
		{"description", 4, "string", false, false},
		{"fingerprint", 5, "string", false, false},
		{"schema_id", 6, "uint64", false, false},
	},
	"danube_schema.CheckCompatibilityRequest": {
		{"subject", 1, "string", false, false},
		{"new_schema_definition", 2, "bytes", false, false},
		{"schema_type", 3, "string", false, false},
		{"compatibility_mode", 4, "string", false, true},
	},
	"danube_schema.CheckCompatibilityResponse": {
		{"is_compatible", 1, "bool", false, false},
		{"errors", 2, "string", true, false},
	},
	"danube_schema.DeleteSchemaVersionRequest": {
		{"subject", 1, "string", false, false},
		{"version", 2, "uint32", false, false},
	},
	"danube_schema.DeleteSchemaVersionResponse": {
		{"success", 1, "bool", false, false},
		{"message", 2, "string", false, false},
	},
	"danube_schema.SetCompatibilityModeRequest": {
		{"subject", 1, "string", false, false},
		{"compatibility_mode", 2, "string", false, false},
	},
	"danube_schema.SetCompatibilityModeResponse": {
		{"success", 1, "bool", false, false},
		{"message", 2, "string", false, false},
	},
	"danube_schema.ConfigureTopicSchemaRequest": {
		{"topic_name", 1, "string", false, false},
		{"schema_subject", 2, "string", false, false},
		{"validation_policy", 3, "string", false, false},
		{"enable_payload_validation", 4, "bool", false, false},
	},
	"danube_schema.ConfigureTopicSchemaResponse": {
		{"success", 1, "bool", false, false},
		{"message", 2, "string", false, false},
	},
	"danube_schema.UpdateTopicValidationPolicyRequest": {
		{"topic_name", 1, "string", false, false},
		{"validation_policy", 2, "string", false, false},
		{"enable_payload_validation", 3, "bool", false, false},
	},
	"danube_schema.UpdateTopicValidationPolicyResponse": {
		{"success", 1, "bool", false, false},
		{"message", 2, "string", false, false},
	},
	"danube_schema.GetTopicSchemaConfigRequest": {{"topic_name", 1, "string", false, false}},
	"danube_schema.GetTopicSchemaConfigResponse": {
		{"schema_subject", 1, "string", false, false},
		{"validation_policy", 2, "string", false, false},
		{"enable_payload_validation", 3, "bool", false, false},
		{"schema_id", 4, "uint64", false, false},
	},
	"danube_schema.ListSubjectsRequest": {},
	"danube_schema.SubjectSummary": {
		{"subject", 1, "string", false, false},
		{"schema_type", 2, "string", false, false},
		{"latest_version", 3, "uint32", false, false},
		{"compatibility_mode", 4, "string", false, false},
		{"schema_id", 5, "uint64", false, false},
		{"tags", 6, "string", true, false},
	},
	"danube_schema.ListSubjectsResponse": {
		{"subjects", 1, "message:danube_schema.SubjectSummary", true, false},
	},
}

var enums = map[string]map[string]protoreflect.EnumNumber{
	"danube.ProducerAccessMode":               {"Shared": 0, "Exclusive": 1},
	"danube.DispatchStrategy":                 {"NonReliable": 0, "Reliable": 1},
	"danube.ConsumerRequest.SubscriptionType": {"Exclusive": 0, "Shared": 1, "Failover": 2, "KeyShared": 3},
	"danube.TopicLookupResponse.LookupType":   {"Redirect": 0, "Connect": 1, "Failed": 2},
	"danube.HealthCheckRequest.ClientType":    {"Producer": 0, "Consumer": 1},
	"danube.HealthCheckResponse.ClientStatus": {"OK": 0, "CLOSE": 1},
}

var files = []protoreflect.FileDescriptor{danubepb.File_DanubeApi_proto, schemapb.File_SchemaRegistry_proto}

func findMessage(t *testing.T, name string) protoreflect.MessageDescriptor {
	t.Helper()
	for _, f := range files {
		if d := findDescriptor(f, protoreflect.FullName(name)); d != nil {
			if md, ok := d.(protoreflect.MessageDescriptor); ok {
				return md
			}
		}
	}
	t.Fatalf("message %s not found", name)
	return nil
}

func findDescriptor(f protoreflect.FileDescriptor, name protoreflect.FullName) protoreflect.Descriptor {
	var walk func(ms protoreflect.MessageDescriptors, es protoreflect.EnumDescriptors) protoreflect.Descriptor
	walk = func(ms protoreflect.MessageDescriptors, es protoreflect.EnumDescriptors) protoreflect.Descriptor {
		for i := 0; i < es.Len(); i++ {
			if es.Get(i).FullName() == name {
				return es.Get(i)
			}
		}
		for i := 0; i < ms.Len(); i++ {
			m := ms.Get(i)
			if m.FullName() == name {
				return m
			}
			if d := walk(m.Messages(), m.Enums()); d != nil {
				return d
			}
		}
		return nil
	}
	return walk(f.Messages(), f.Enums())
}

func kindOf(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.Kind() == protoreflect.MessageKind:
		return "message:" + string(fd.Message().FullName())
	case fd.Kind() == protoreflect.EnumKind:
		return "enum:" + string(fd.Enum().FullName())
	default:
		return fd.Kind().String()
	}
}

func TestMethods(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range files {
		for i := 0; i < f.Services().Len(); i++ {
			s := f.Services().Get(i)
			for j := 0; j < s.Methods().Len(); j++ {
				m := s.Methods().Get(j)
				seen["/"+string(s.FullName())+"/"+string(m.Name())] = true
			}
		}
	}
	if len(seen) != len(methods) {
		t.Errorf("generated code has %d methods, the protocol has %d", len(seen), len(methods))
	}
	for _, want := range methods {
		t.Run(want.path, func(t *testing.T) {
			if !seen[want.path] {
				t.Fatalf("method %s missing", want.path)
			}
			var got protoreflect.MethodDescriptor
			for _, f := range files {
				for i := 0; i < f.Services().Len(); i++ {
					s := f.Services().Get(i)
					for j := 0; j < s.Methods().Len(); j++ {
						m := s.Methods().Get(j)
						if "/"+string(s.FullName())+"/"+string(m.Name()) == want.path {
							got = m
						}
					}
				}
			}
			if string(got.Input().FullName()) != want.input || string(got.Output().FullName()) != want.output {
				t.Errorf("%s: %s -> %s, want %s -> %s", want.path, got.Input().FullName(), got.Output().FullName(), want.input, want.output)
			}
			if got.IsStreamingServer() != want.serverStreaming || got.IsStreamingClient() {
				t.Errorf("%s: streaming server=%v client=%v, want server=%v client=false", want.path, got.IsStreamingServer(), got.IsStreamingClient(), want.serverStreaming)
			}
		})
	}
}

func TestMessageFields(t *testing.T) {
	for name, fields := range messages {
		t.Run(name, func(t *testing.T) {
			md := findMessage(t, name)
			if md.Fields().Len() != len(fields) {
				t.Errorf("%d fields, want %d", md.Fields().Len(), len(fields))
			}
			for _, want := range fields {
				fd := md.Fields().ByName(protoreflect.Name(want.name))
				if fd == nil {
					t.Errorf("field %s missing", want.name)
					continue
				}
				if fd.Number() != want.number {
					t.Errorf("field %s has number %d, want %d", want.name, fd.Number(), want.number)
				}
				if got := kindOf(fd); got != want.kind {
					t.Errorf("field %s has type %s, want %s", want.name, got, want.kind)
				}
				if repeated := fd.Cardinality() == protoreflect.Repeated && !fd.IsMap(); repeated != want.repeated {
					t.Errorf("field %s repeated=%v, want %v", want.name, repeated, want.repeated)
				}
				if fd.HasPresence() != want.optional {
					t.Errorf("field %s has presence=%v, want %v", want.name, fd.HasPresence(), want.optional)
				}
			}
		})
	}
	// The map field's entry types matter for the wire format too.
	attrs := findMessage(t, "danube.StreamMessage").Fields().ByName("attributes")
	if attrs.MapKey().Kind() != protoreflect.StringKind || attrs.MapValue().Kind() != protoreflect.StringKind {
		t.Errorf("StreamMessage.attributes is not map<string,string>")
	}
	// The version_ref oneof groups the three version selectors.
	oneof := findMessage(t, "danube.SchemaReference").Oneofs().ByName("version_ref")
	if oneof == nil || oneof.Fields().Len() != 3 {
		t.Errorf("SchemaReference.version_ref oneof missing or wrong size")
	}
}

func TestEnums(t *testing.T) {
	for name, values := range enums {
		t.Run(name, func(t *testing.T) {
			var ed protoreflect.EnumDescriptor
			for _, f := range files {
				if d, ok := findDescriptor(f, protoreflect.FullName(name)).(protoreflect.EnumDescriptor); ok {
					ed = d
				}
			}
			if ed == nil {
				t.Fatalf("enum %s not found", name)
			}
			if ed.Values().Len() != len(values) {
				t.Errorf("%d values, want %d", ed.Values().Len(), len(values))
			}
			for vname, num := range values {
				v := ed.Values().ByName(protoreflect.Name(vname))
				if v == nil {
					t.Errorf("value %s missing", vname)
				} else if v.Number() != num {
					t.Errorf("value %s = %d, want %d", vname, v.Number(), num)
				}
			}
		})
	}
}

func TestPackages(t *testing.T) {
	if got := danubepb.File_DanubeApi_proto.Package(); got != "danube" {
		t.Errorf("DanubeApi.proto package %q, want danube", got)
	}
	if got := schemapb.File_SchemaRegistry_proto.Package(); got != "danube_schema" {
		t.Errorf("SchemaRegistry.proto package %q, want danube_schema", got)
	}
}
