package registry

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// Avro object container files are checked by a small walker of our own rather than by
// hamba/avro's ocf.Decoder: payloads are untrusted, and the decoder allocates block sizes read
// from the input (a negative size panics, a huge one exhausts memory) and loops over array counts
// without bound. The walker allocates nothing per datum and stops after a step budget. Writer
// schemas are still parsed, and reader/writer compatibility decided, by hamba/avro.

const (
	maxPayloadBytes  = 8 << 20  // largest string/bytes value accepted inside a payload
	maxInflatedBytes = 64 << 20 // largest decompressed block of a deflate container
	maxDatumDepth    = 256      // nesting limit for recursive schemas
	maxWriterSchemas = 64       // writer schemas remembered per registered version
)

var ocfMagic = []byte{'O', 'b', 'j', 1}

// ocfReaderCache remembers, per registered Avro version, which writer schemas found in container
// headers were parsed and whether the registered schema can read them.
type ocfReaderCache struct {
	mu      sync.Mutex
	writers map[string]*writerSchema // keyed by the header's schema text
}

type writerSchema struct {
	schema avro.Schema
	err    error // parse or compatibility failure
}

func (c *ocfReaderCache) lookup(reader avro.Schema, text []byte) *writerSchema {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.writers[string(text)]; ok {
		return w
	}
	w := &writerSchema{}
	if s, err := parseAvro(text); err != nil {
		w.err = fmt.Errorf("container schema does not parse: %w", err)
	} else if err := avroCompatible(reader, s); err != nil {
		w.err = fmt.Errorf("registered schema cannot read the container's records: %w", err)
	} else {
		w.schema = s
	}
	if c.writers == nil || len(c.writers) >= maxWriterSchemas {
		c.writers = make(map[string]*writerSchema)
	}
	c.writers[string(text)] = w
	return w
}

// validateOCF checks that payload is an Avro object container file whose records are well formed
// under the file's writer schema and readable with the registered schema reader.
func validateOCF(cache *ocfReaderCache, reader avro.Schema, payload []byte) error {
	w := &avroWalker{b: payload, budget: 1<<20 + 8*len(payload)}
	if !bytes.HasPrefix(payload, ocfMagic) {
		return errors.New("not an avro object container file (bad magic)")
	}
	w.pos = len(ocfMagic)
	var schemaText, codec []byte
	err := w.blocks(func() error {
		key, err := w.bytesValue()
		if err != nil {
			return err
		}
		val, err := w.bytesValue()
		if err != nil {
			return err
		}
		switch string(key) {
		case "avro.schema":
			schemaText = val
		case "avro.codec":
			codec = val
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("container header: %w", err)
	}
	marker, err := w.take(16)
	if err != nil {
		return fmt.Errorf("container header: %w", err)
	}
	if schemaText == nil {
		return errors.New("container header has no avro.schema")
	}
	switch string(codec) {
	case "", "null", "deflate":
	default:
		return fmt.Errorf("unsupported avro codec %q (null and deflate are supported)", codec)
	}
	ws := cache.lookup(reader, schemaText)
	if ws.err != nil {
		return ws.err
	}
	for n := 0; w.pos < len(w.b); n++ {
		count, err := w.long()
		if err != nil {
			return fmt.Errorf("block %d: %w", n, err)
		}
		data, err := w.sized()
		if err != nil {
			return fmt.Errorf("block %d: %w", n, err)
		}
		mark, err := w.take(16)
		if err != nil {
			return fmt.Errorf("block %d: %w", n, err)
		}
		if !bytes.Equal(mark, marker) {
			return fmt.Errorf("block %d: sync marker mismatch", n)
		}
		if count < 0 {
			return fmt.Errorf("block %d: negative record count", n)
		}
		if string(codec) == "deflate" {
			if data, err = inflate(data); err != nil {
				return fmt.Errorf("block %d: %w", n, err)
			}
		}
		bw := &avroWalker{b: data, budget: w.budget}
		for i := int64(0); i < count; i++ {
			if err := bw.datum(ws.schema, 0); err != nil {
				return fmt.Errorf("block %d record %d: %w", n, i, err)
			}
		}
		if bw.pos != len(bw.b) {
			return fmt.Errorf("block %d: %d trailing bytes after %d records", n, len(bw.b)-bw.pos, count)
		}
		w.budget = bw.budget
	}
	return nil
}

func inflate(data []byte) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), maxInflatedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	if len(out) > maxInflatedBytes {
		return nil, fmt.Errorf("deflate: block inflates beyond %d bytes", maxInflatedBytes)
	}
	return out, nil
}

// avroWalker checks Avro binary encoding in place.
type avroWalker struct {
	b      []byte
	pos    int
	budget int // remaining datum steps
}

var errTruncated = errors.New("unexpected end of data")

func (w *avroWalker) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if w.pos >= len(w.b) {
			return 0, errTruncated
		}
		c := w.b[w.pos]
		w.pos++
		if shift == 63 && c > 1 {
			return 0, errors.New("varint overflows 64 bits")
		}
		u |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint overflows 64 bits")
}

func (w *avroWalker) take(n int) ([]byte, error) {
	if n < 0 || n > len(w.b)-w.pos {
		return nil, errTruncated
	}
	b := w.b[w.pos : w.pos+n]
	w.pos += n
	return b, nil
}

// sized reads a long length followed by that many bytes.
func (w *avroWalker) sized() ([]byte, error) {
	n, err := w.long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("negative length %d", n)
	}
	if n > int64(len(w.b)-w.pos) {
		return nil, errTruncated
	}
	return w.take(int(n))
}

func (w *avroWalker) bytesValue() ([]byte, error) {
	b, err := w.sized()
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayloadBytes {
		return nil, fmt.Errorf("value of %d bytes is too large", len(b))
	}
	return b, nil
}

func (w *avroWalker) step() error {
	w.budget--
	if w.budget < 0 {
		return errors.New("data too complex to validate")
	}
	return nil
}

// blocks walks the block framing of an array or map, calling item for each element.
func (w *avroWalker) blocks(item func() error) error {
	for {
		n, err := w.long()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			n = -n
			if n < 0 {
				return errors.New("bad block count")
			}
			if _, err := w.long(); err != nil { // block size in bytes, unused
				return err
			}
		}
		for ; n > 0; n-- {
			if err := w.step(); err != nil {
				return err
			}
			if err := item(); err != nil {
				return err
			}
		}
	}
}

func (w *avroWalker) datum(s avro.Schema, depth int) error {
	if depth > maxDatumDepth {
		return errors.New("data nested too deeply")
	}
	if err := w.step(); err != nil {
		return err
	}
	switch s.Type() {
	case avro.Ref:
		return w.datum(s.(*avro.RefSchema).Schema(), depth+1)
	case avro.Null:
		return nil
	case avro.Boolean:
		b, err := w.take(1)
		if err != nil {
			return err
		}
		if b[0] > 1 {
			return fmt.Errorf("invalid boolean byte %#x", b[0])
		}
		return nil
	case avro.Int:
		v, err := w.long()
		if err == nil && (v < -1<<31 || v > 1<<31-1) {
			err = fmt.Errorf("int value %d out of range", v)
		}
		return err
	case avro.Long:
		_, err := w.long()
		return err
	case avro.Float:
		_, err := w.take(4)
		return err
	case avro.Double:
		_, err := w.take(8)
		return err
	case avro.Bytes:
		_, err := w.bytesValue()
		return err
	case avro.String:
		b, err := w.bytesValue()
		if err == nil && !utf8.Valid(b) {
			err = errors.New("string is not valid UTF-8")
		}
		return err
	case avro.Fixed:
		_, err := w.take(s.(*avro.FixedSchema).Size())
		return err
	case avro.Enum:
		idx, err := w.long()
		if err == nil && (idx < 0 || idx >= int64(len(s.(*avro.EnumSchema).Symbols()))) {
			err = fmt.Errorf("enum index %d out of range", idx)
		}
		return err
	case avro.Record, avro.Error:
		for _, f := range s.(*avro.RecordSchema).Fields() {
			if err := w.datum(f.Type(), depth+1); err != nil {
				return fmt.Errorf("field %s: %w", f.Name(), err)
			}
		}
		return nil
	case avro.Array:
		items := s.(*avro.ArraySchema).Items()
		return w.blocks(func() error { return w.datum(items, depth+1) })
	case avro.Map:
		values := s.(*avro.MapSchema).Values()
		return w.blocks(func() error {
			if _, err := w.bytesValue(); err != nil {
				return err
			}
			return w.datum(values, depth+1)
		})
	case avro.Union:
		types := s.(*avro.UnionSchema).Types()
		idx, err := w.long()
		if err != nil {
			return err
		}
		if idx < 0 || idx >= int64(len(types)) {
			return fmt.Errorf("union index %d out of range", idx)
		}
		return w.datum(types[idx], depth+1)
	}
	return fmt.Errorf("unsupported avro type %s", s.Type())
}
