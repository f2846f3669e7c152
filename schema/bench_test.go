package schema

import (
	"context"
	"encoding/binary"
	"strconv"
	"testing"
)

func benchSerde(b *testing.B, s serde, value any) {
	payload, err := s.encode(value)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := s.encode(value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := s.decode(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBytes(b *testing.B) {
	benchSerde(b, mustSerde(b, Bytes, "", serdeOptions{}), make([]byte, 256))
}

func BenchmarkString(b *testing.B) {
	benchSerde(b, mustSerde(b, String, "", serdeOptions{}), "a log line of moderate length, as sources emit them by the thousand")
}

func BenchmarkNumber(b *testing.B) {
	b.Run("int64", func(b *testing.B) { benchSerde(b, mustSerde(b, Number, "", serdeOptions{}), int64(1234567)) })
	b.Run("float64", func(b *testing.B) {
		benchSerde(b, mustSerde(b, Number, "", serdeOptions{number: NumberFloat64}), 23.5)
	})
}

func BenchmarkJSON(b *testing.B) {
	s := mustSerde(b, JSONSchema, orderSchema, serdeOptions{validate: true})
	b.Run("struct", func(b *testing.B) { benchSerde(b, s, order{ID: "ord-1", Qty: 3, Tags: []string{"a", "b"}}) })
	b.Run("raw", func(b *testing.B) { benchSerde(b, s, []byte(`{"id":"ord-1","qty":3,"tags":["a","b"]}`)) })
	b.Run("novalidate", func(b *testing.B) {
		benchSerde(b, mustSerde(b, JSONSchema, orderSchema, serdeOptions{}), []byte(`{"id":"ord-1","qty":3,"tags":["a","b"]}`))
	})
}

func BenchmarkAvro(b *testing.B) {
	for _, enc := range []AvroEncoding{AvroOCF, AvroBinary, AvroJSON} {
		s := mustSerde(b, Avro, userSchema, serdeOptions{avro: enc, validate: true})
		b.Run(enc.String()+"/struct", func(b *testing.B) { benchSerde(b, s, sampleUser()) })
		b.Run(enc.String()+"/map", func(b *testing.B) { benchSerde(b, s, sampleUserNative()) })
	}
	// Decoding into a struct, the typed path for sinks.
	for _, enc := range []AvroEncoding{AvroOCF, AvroBinary} {
		s := mustSerde(b, Avro, userSchema, serdeOptions{avro: enc, validate: true})
		payload, _ := s.encode(sampleUser())
		b.Run(enc.String()+"/decodeInto", func(b *testing.B) {
			b.ReportAllocs()
			var u userEvent
			for b.Loop() {
				if err := s.decodeInto(payload, &u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolverDecode measures the sink path with a warm cache, in
// parallel, including the cache lookup.
func BenchmarkResolverDecode(b *testing.B) {
	ctx := context.Background()
	reg := newFakeRegistry()
	res, err := reg.Register(ctx, "n", "number", nil)
	if err != nil {
		b.Fatal(err)
	}
	r := newResolver(reg)
	payload := binary.BigEndian.AppendUint64(nil, 42)
	if _, err := r.Decode(ctx, res.ID, 1, payload); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Decode(ctx, res.ID, 1, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResolverChurn measures decoding over more schemas than the cache
// holds, fetching and compiling on every miss.
func BenchmarkResolverChurn(b *testing.B) {
	ctx := context.Background()
	reg := newFakeRegistry()
	var ids []uint64
	for i := range 8 {
		res, err := reg.Register(ctx, "s"+strconv.Itoa(i), "json_schema", []byte(orderSchema))
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	r := newResolver(reg, WithCacheSize(4))
	payload := []byte(`{"id":"a","qty":1}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Decode(ctx, ids[i%len(ids)], 1, payload); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
