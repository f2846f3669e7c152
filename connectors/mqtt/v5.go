package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/danube-connect/connect"
)

// sendAcksInterval is how often paho sends the acknowledgements released
// in order (MQTT 5).
const sendAcksInterval = 5 * time.Millisecond

// MQTT 5 CONNACK reason codes that no retry can fix.
var v5LoginRefused = map[byte]bool{
	0x85: true, // client identifier not valid
	0x86: true, // bad user name or password
	0x87: true, // not authorized
	0x8C: true, // bad authentication method
}

// streamV5 runs an MQTT 5 session with paho.golang's autopaho: manual
// acknowledgement (paho sends them in receive order as the ackQueue
// releases them), Receive Maximum and Maximum Packet Size announced in
// CONNECT, a session expiry, and subscriptions renewed on every connect.
func (s *Source) streamV5(ctx context.Context, d *deliverer) error {
	// The connection outlives ctx while the acknowledgements drain.
	connCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	refused := make(chan error, 1)
	// paho sends the acknowledgements released by Client.Ack later, in
	// batches; acks tells when all of them were written.
	acks := &ackSession{SessionManager: state.NewInMemory()}
	defer func() { _ = acks.Close() }()
	var subscribers sync.WaitGroup // the subscribe goroutines of OnConnectionUp
	recvMax := uint16(s.cfg.ReceiveMaximum)
	cfg := autopaho.ClientConfig{
		ServerUrls:                    s.urls,
		KeepAlive:                     uint16(s.cfg.KeepAliveSecs),
		CleanStartOnInitialConnection: s.cfg.CleanSession,
		ConnectTimeout:                s.cfg.connectTimeout(),
		ReconnectBackoff:              autopaho.NewExponentialBackoff(100*time.Millisecond, s.cfg.reconnectMax(), 200*time.Millisecond, 2),
		ConnectUsername:               s.cfg.Username,
		ConnectPassword:               []byte(s.cfg.Password),
		AttemptConnection: func(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			nu, err := parseBrokerURL(u.String())
			if err != nil {
				return nil, err
			}
			if nu.Scheme == "ws" || nu.Scheme == "wss" {
				return dialWebSocket(ctx, nu, s.tlsCfg, s.cfg.connectTimeout())
			}
			return dial(ctx, nu, s.tlsCfg, s.cfg.connectTimeout(), s.cfg.TCPNoDelay)
		},
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.CleanStart = s.cfg.CleanSession
			expiry := uint32(s.cfg.SessionExpirySecs)
			if s.cfg.CleanSession {
				expiry = 0
			}
			cp.Properties.SessionExpiryInterval = &expiry
			cp.Properties.ReceiveMaximum = &recvMax
			if s.cfg.MaxPacketSize > 0 {
				mps := uint32(s.cfg.MaxPacketSize)
				cp.Properties.MaximumPacketSize = &mps
			}
			return cp, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			// Subscribing waits for the SUBACK: not on this goroutine.
			subscribers.Go(func() {
				if err := s.subscribeV5(ctx, cm); err != nil {
					s.setConnected(false, err)
					s.log.Error("mqtt: subscribing failed", "err", err)
					return
				}
				s.setConnected(true, nil)
				s.log.Info("mqtt: connected and subscribed", "client_id", s.clientID, "routes", len(s.routes), "protocol", 5)
			})
		},
		OnConnectionDown: func() bool {
			s.setConnected(false, errors.New("connection lost"))
			s.log.Warn("mqtt: connection lost; reconnecting")
			return true
		},
		OnConnectError: func(err error) {
			s.setConnected(false, err)
			var ce *autopaho.ConnackError
			if errors.As(err, &ce) && v5LoginRefused[ce.ReasonCode] {
				select {
				case refused <- err:
				default:
				}
				return
			}
			s.log.Warn("mqtt: connecting failed; retrying", "err", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.clientID,
			Session:                    acks,
			EnableManualAcknowledgment: true,
			SendAcksInterval:           sendAcksInterval,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					d.Deliver(ctx, v5message(pr, &acks.released))
					return true, nil
				},
			},
		},
	}
	cm, err := autopaho.NewConnection(connCtx, cfg)
	if err != nil {
		return connect.Configuration(fmt.Errorf("mqtt: %w", err))
	}
	defer func() {
		d.q.Drain(drainTimeout)
		// Disconnecting drops the acknowledgements paho has not written yet.
		waitUntil(time.Second, acks.flushed)
		dctx, dcancel := context.WithTimeout(connCtx, time.Second)
		defer dcancel()
		_ = cm.Disconnect(dctx)
		cancel()
		<-cm.Done()
		subscribers.Wait() // none may report "connected" after the stop
		s.setConnected(false, errors.New("stopped"))
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-refused:
		return connect.Configuration(fmt.Errorf("mqtt: the broker refused the connection of client %q (user %q): %w", s.clientID, s.cfg.Username, err))
	}
}

// ackSession is paho's in-memory session state, counting the
// acknowledgements written to the connection, so that a stop can wait for
// those released (Client.Ack) before it disconnects.
type ackSession struct {
	session.SessionManager
	released atomic.Uint64 // Client.Ack accepted
	written  atomic.Uint64 // the session wrote PUBACK/PUBREC (or had no connection)
}

// Ack writes the acknowledgement of pb (called by paho in receive order).
func (a *ackSession) Ack(pb *packets.Publish) error {
	err := a.SessionManager.Ack(pb)
	a.written.Add(1)
	return err
}

// flushed reports whether every released acknowledgement was written.
func (a *ackSession) flushed() bool { return a.written.Load() >= a.released.Load() }

// v5message converts pr; its ack releases the acknowledgement to paho and
// counts it in released.
func v5message(pr paho.PublishReceived, released *atomic.Uint64) message {
	p := pr.Packet
	m := message{
		topic: p.Topic, qos: p.QoS, retain: p.Retain, dup: p.Duplicate(), id: p.PacketID,
		payload: p.Payload, received: len(p.Topic) + len(p.Payload) + 4,
		v5: &v5props{},
	}
	if props := p.Properties; props != nil {
		m.v5.contentType = props.ContentType
		m.v5.correlation = props.CorrelationData
		m.v5.responseTopic = props.ResponseTopic
		if props.SubscriptionIdentifier != nil {
			m.subID = *props.SubscriptionIdentifier
		}
		for _, u := range props.User {
			m.v5.user = append(m.v5.user, [2]string{u.Key, u.Value})
		}
	}
	if p.QoS > 0 {
		client := pr.Client
		m.ack = func() {
			if client.Ack(p) == nil {
				released.Add(1)
			}
		}
	}
	return m
}

// subscribeV5 subscribes to every route's filter; a refused filter is an
// error naming it.
func (s *Source) subscribeV5(ctx context.Context, cm *autopaho.ConnectionManager) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.connectTimeout())
	defer cancel()
	// One SUBSCRIBE per route, identified by its index + 1: a message
	// matching overlapping filters arrives once per subscription, and only
	// the first matching route's copy is kept.
	for i, r := range s.routes {
		id := i + 1
		sub := &paho.Subscribe{
			Properties:    &paho.SubscribeProperties{SubscriptionIdentifier: &id},
			Subscriptions: []paho.SubscribeOptions{{Topic: r.From, QoS: byte(r.QoS)}},
		}
		ack, err := cm.Subscribe(ctx, sub)
		if err != nil {
			return fmt.Errorf("mqtt: subscribe to %q: %w", r.From, err)
		}
		if len(ack.Reasons) > 0 && ack.Reasons[0] >= 0x80 {
			return fmt.Errorf("mqtt: the broker refused the subscription to %q (reason 0x%02x)", r.From, ack.Reasons[0])
		}
	}
	return nil
}
