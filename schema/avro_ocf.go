package schema

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"io"
)

// The object container file framing (Avro specification, "Object Container
// Files"): magic "Obj\x01", a metadata map (avro.schema, avro.codec), a
// 16-byte sync marker, then blocks of (count, size, data, sync).

var ocfMagic = []byte{'O', 'b', 'j', 1}

// syncMarker derives the 16-byte sync marker from the schema text, so that
// a codec's output is deterministic.
func syncMarker(def []byte) [16]byte {
	h := sha256.Sum256(append([]byte("danube-connect avro sync\x00"), def...))
	var s [16]byte
	copy(s[:], h[:16])
	return s
}

func appendLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

func appendAvroBytes(b, s []byte) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

// ocfHeader builds the container header for a schema definition, codec null.
func ocfHeader(def []byte, sync [16]byte) []byte {
	h := make([]byte, 0, len(def)+64)
	h = append(h, ocfMagic...)
	h = appendLong(h, 2)
	h = appendAvroBytes(h, []byte("avro.schema"))
	h = appendAvroBytes(h, def)
	h = appendAvroBytes(h, []byte("avro.codec"))
	h = appendAvroBytes(h, []byte("null"))
	h = appendLong(h, 0)
	return append(h, sync[:]...)
}

// container completes an object container around a datum that was
// encoded into b after len(a.header)+room reserved bytes.
func (a *avroSerde) container(b []byte, room int) []byte {
	h := len(a.header)
	datum := b[h+room:]
	var frame [11]byte
	f := appendLong(frame[:0], 1)
	f = appendLong(f, int64(len(datum)))
	// Move the datum left so the frame fits exactly before it.
	start := h + len(f)
	copy(b[start:], datum)
	b = b[:start+len(datum)]
	copy(b, a.header)
	copy(b[h:], f)
	return append(b, a.sync[:]...)
}

// openContainer parses an object container holding exactly one datum and
// returns its writer schema and the datum's bytes. Codecs null and deflate
// are supported.
func (a *avroSerde) openContainer(p []byte) (*avroWriter, []byte, error) {
	r := avroReader{b: p, pos: len(ocfMagic)}
	var def, codec []byte
	for {
		n := r.blockCount(1, 0)
		if r.err != nil {
			return nil, nil, r.err
		}
		if n == 0 {
			break
		}
		for range n {
			k := r.take(r.length())
			v := r.take(r.length())
			if r.err != nil {
				return nil, nil, r.err
			}
			switch string(k) {
			case "avro.schema":
				def = v
			case "avro.codec":
				codec = v
			}
		}
	}
	sync := r.take(16)
	if r.err != nil {
		return nil, nil, r.err
	}
	if def == nil {
		return nil, nil, invalid(Avro, "object container without avro.schema")
	}
	var datum []byte
	count := 0
	for r.pos < len(p) {
		n := r.long()
		size := r.length()
		data := r.take(size)
		mark := r.take(16)
		if r.err != nil {
			return nil, nil, r.err
		}
		if !bytes.Equal(mark, sync) {
			return nil, nil, invalid(Avro, "object container block has a wrong sync marker")
		}
		if n < 0 {
			return nil, nil, invalid(Avro, "object container block count %d", n)
		}
		count += int(min(n, 2))
		if count > 1 {
			return nil, nil, invalid(Avro, "object container holds more than one datum; one per message is expected")
		}
		if n == 1 {
			datum = data
		}
	}
	if count == 0 {
		return nil, nil, invalid(Avro, "object container holds no datum")
	}
	switch string(codec) {
	case "", "null":
	case "deflate":
		d, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(datum)), maxAvroBytes+1))
		if err != nil {
			return nil, nil, invalid(Avro, "object container deflate block: %v", err)
		}
		if len(d) > maxAvroBytes {
			return nil, nil, invalid(Avro, "object container block inflates beyond %d bytes", maxAvroBytes)
		}
		datum = d
	default:
		return nil, nil, invalid(Avro, "object container codec %q is not supported (null and deflate are)", codec)
	}
	w, err := a.writer(def)
	if err != nil {
		return nil, nil, err
	}
	return w, datum, nil
}
