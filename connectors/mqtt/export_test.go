package mqtt

// SetOnAck makes s call f after sending each MQTT acknowledgement (tests).
func SetOnAck(s *Source, f func(topic string, payload []byte)) { s.onAck = f }
