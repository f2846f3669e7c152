package schema_test

import (
	"context"
	"fmt"
	"log"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/schema"
)

// A source encodes with a Codec and tags its producer with the codec's
// schema; a sink decodes with a Resolver, by the schema each message names.
func Example() {
	ctx := context.Background()
	b, err := devbroker.Start(ctx, devbroker.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	client, err := danube.NewClient(ctx, b.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// Source side: register (or evolve) the subject and build the codec.
	codec, err := schema.NewCodec(ctx, client.Schemas(), schema.Spec{
		Topic: "/default/readings",
		Type:  schema.Avro,
		Definition: []byte(`{"type":"record","name":"Reading","fields":[
			{"name":"sensor","type":"string"},{"name":"value","type":"double"}]}`),
		AutoRegister: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	payload, err := codec.Encode(map[string]any{"sensor": "s1", "value": 21.5})
	if err != nil {
		log.Fatal(err)
	}
	// The producer would be created with danube.WithSchema(codec.SchemaRef())
	// and every message would carry codec.ID() and codec.Version().
	fmt.Println(codec.Subject(), codec.Version(), string(payload[:4]) == "Obj\x01")

	// Sink side: decode by (schema id, version).
	res := schema.NewResolver(client.Schemas())
	d, err := res.Decode(ctx, codec.ID(), codec.Version(), payload)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Schema.Subject, d.Value)

	type reading struct {
		Sensor string  `avro:"sensor"`
		Value  float64 `avro:"value"`
	}
	r, err := schema.DecodeAs[reading](ctx, res, codec.ID(), codec.Version(), payload)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", r)
	// Output:
	// default-readings 1 true
	// default-readings map[sensor:s1 value:21.5]
	// {Sensor:s1 Value:21.5}
}
