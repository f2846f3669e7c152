package devbroker

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Records on disk (topic log segments and the metadata journal) are framed as
//
//	length uint32 (little endian) | crc32c(payload) uint32 | payload
//
// A crash can leave a torn frame at the end of a file; readers stop at the first frame that is
// incomplete or fails its checksum, and the file is truncated there.

const frameHeader = 8

// maxFrame bounds a frame's payload so that a corrupt length cannot make a reader allocate
// gigabytes.
const maxFrame = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errTornFrame = errors.New("torn or corrupt frame")

// appendFrame appends payload to buf as one frame.
func appendFrame(buf, payload []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(payload, crcTable))
	return append(buf, payload...)
}

// nextFrame decodes the frame at the start of data. It returns the payload (aliasing data) and the
// frame's total length, or errTornFrame if data does not start with a complete, intact frame.
func nextFrame(data []byte) (payload []byte, n int, err error) {
	if len(data) < frameHeader {
		return nil, 0, errTornFrame
	}
	size := binary.LittleEndian.Uint32(data)
	if size > maxFrame || uint64(len(data)-frameHeader) < uint64(size) {
		return nil, 0, errTornFrame
	}
	payload = data[frameHeader : frameHeader+int(size)]
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(data[4:]) {
		return nil, 0, errTornFrame
	}
	return payload, frameHeader + int(size), nil
}
