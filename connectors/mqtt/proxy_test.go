package mqtt_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
)

// sniffer is a TCP proxy in front of Mosquitto that records what clients
// send: the CONNECT packet of each connection and the packet types.
type sniffer struct {
	ln      net.Listener
	target  string
	silent  bool // accept and never answer (a broker that hangs)
	mu      sync.Mutex
	conns   int
	connect [][]byte // body of each CONNECT (after the fixed header)
	types   []byte   // client→broker packet types seen, in order
	wg      sync.WaitGroup
}

func newSniffer(t testing.TB, target string, silent bool) *sniffer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sniffer{ln: ln, target: target, silent: silent}
	var open []net.Conn
	var omu sync.Mutex
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			omu.Lock()
			open = append(open, c)
			omu.Unlock()
			if silent {
				s.wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			omu.Lock()
			open = append(open, up)
			omu.Unlock()
			s.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
			s.wg.Go(func() { s.read(c, up); up.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		omu.Lock()
		for _, c := range open {
			c.Close()
		}
		omu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *sniffer) URL() string { return "tcp://" + s.ln.Addr().String() }

// read forwards client packets to up, recording them.
func (s *sniffer) read(c net.Conn, up net.Conn) {
	for {
		var h [1]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return
		}
		n, lenBytes, err := readVarint(c)
		if err != nil {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		s.mu.Lock()
		s.types = append(s.types, h[0]>>4)
		if h[0]>>4 == 1 {
			s.connect = append(s.connect, body)
		}
		s.mu.Unlock()
		if _, err := up.Write(append(append(h[:], lenBytes...), body...)); err != nil {
			return
		}
	}
}

func readVarint(r io.Reader) (int, []byte, error) {
	var raw []byte
	n, mul := 0, 1
	for range 4 {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		raw = append(raw, b[0])
		n += int(b[0]&0x7f) * mul
		if b[0]&0x80 == 0 {
			return n, raw, nil
		}
		mul *= 128
	}
	return 0, nil, io.ErrUnexpectedEOF
}

// connectInfo is what a CONNECT packet announced.
type connectInfo struct {
	Level                     byte
	CleanStart, Username      bool
	KeepAlive                 uint16
	SessionExpiry, MaxPacket  uint32
	ReceiveMax                uint16
	HasExpiry, HasMax, HasRcv bool
}

func parseConnect(body []byte) connectInfo {
	r := bytes.NewReader(body)
	var l uint16
	_ = binary.Read(r, binary.BigEndian, &l)
	_, _ = r.Seek(int64(l), io.SeekCurrent)
	var ci connectInfo
	ci.Level, _ = r.ReadByte()
	flags, _ := r.ReadByte()
	ci.CleanStart, ci.Username = flags&0x02 != 0, flags&0x80 != 0
	_ = binary.Read(r, binary.BigEndian, &ci.KeepAlive)
	if ci.Level != 5 {
		return ci
	}
	plen, _, _ := readVarint(r)
	props := make([]byte, plen)
	_, _ = io.ReadFull(r, props)
	pr := bytes.NewReader(props)
	for pr.Len() > 0 {
		id, _ := pr.ReadByte()
		switch id {
		case 0x11:
			_ = binary.Read(pr, binary.BigEndian, &ci.SessionExpiry)
			ci.HasExpiry = true
		case 0x21:
			_ = binary.Read(pr, binary.BigEndian, &ci.ReceiveMax)
			ci.HasRcv = true
		case 0x27:
			_ = binary.Read(pr, binary.BigEndian, &ci.MaxPacket)
			ci.HasMax = true
		case 0x22:
			var x uint16
			_ = binary.Read(pr, binary.BigEndian, &x)
		case 0x17, 0x19:
			_, _ = pr.ReadByte()
		default:
			return ci // not needed by the tests
		}
	}
	return ci
}

func (s *sniffer) snapshot() (conns int, connects []connectInfo, types []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.connect {
		connects = append(connects, parseConnect(b))
	}
	return s.conns, connects, append([]byte(nil), s.types...)
}
