package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/danube-connect/connect"
)

// streamV3 runs an MQTT 3.1.1 session with paho.mqtt.golang: automatic
// acknowledgement off (the ackQueue sends them), messages delivered in
// order on one goroutine, reconnection by the client, subscriptions
// renewed on every connect.
func (s *Source) streamV3(ctx context.Context, d *deliverer) error {
	opts := paho.NewClientOptions()
	for _, u := range s.urls {
		opts.AddBroker(u.String())
	}
	opts.SetClientID(s.clientID)
	opts.SetUsername(s.cfg.Username)
	opts.SetPassword(s.cfg.Password)
	opts.SetProtocolVersion(4)
	opts.SetCleanSession(s.cfg.CleanSession)
	opts.SetKeepAlive(s.cfg.keepAlive())
	opts.SetPingTimeout(min(10*time.Second, s.cfg.keepAlive()))
	opts.SetConnectTimeout(s.cfg.connectTimeout())
	opts.SetWriteTimeout(s.cfg.connectTimeout())
	opts.SetAutoReconnect(true)
	opts.SetMaxReconnectInterval(s.cfg.reconnectMax())
	opts.SetConnectRetry(false)
	opts.SetResumeSubs(false)
	opts.SetAutoAckDisabled(true)
	opts.SetOrderMatters(true)
	opts.SetTLSConfig(s.tlsCfg)
	if !s.cfg.TCPNoDelay {
		timeout := s.cfg.connectTimeout()
		opts.SetCustomOpenConnectionFn(func(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
			nu, err := parseBrokerURL(u.String())
			if err != nil {
				return nil, err
			}
			return dial(ctx, nu, o.TLSConfig, timeout, false)
		})
	}
	opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		msg := message{
			topic: m.Topic(), qos: m.Qos(), retain: m.Retained(), dup: m.Duplicate(),
			id: m.MessageID(), payload: m.Payload(),
			received: len(m.Topic()) + len(m.Payload()) + 4,
		}
		if m.Qos() > 0 {
			msg.ack = m.Ack
		}
		d.Deliver(ctx, msg)
	})
	opts.SetOnConnectHandler(func(c paho.Client) {
		if err := s.subscribeV3(ctx, c); err != nil {
			// Connected but not ingesting: health reports it.
			s.setConnected(false, err)
			s.log.Error("mqtt: subscribing failed", "err", err)
			return
		}
		s.setConnected(true, nil)
		s.log.Info("mqtt: connected and subscribed", "client_id", s.clientID, "routes", len(s.routes))
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		s.setConnected(false, err)
		s.log.Warn("mqtt: connection lost; reconnecting", "err", err)
	})
	client := paho.NewClient(opts)
	defer client.Disconnect(250)

	wait := 100 * time.Millisecond
	for {
		tok := client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return nil
		}
		err := tok.Error()
		if err == nil {
			break
		}
		if errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised) || errors.Is(err, packets.ErrorRefusedIDRejected) {
			return connect.Configuration(fmt.Errorf("mqtt: the broker refused the connection of client %q (user %q): %w", s.clientID, s.cfg.Username, err))
		}
		s.setConnected(false, err)
		s.log.Warn("mqtt: connecting failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.reconnectMax())
	}
	<-ctx.Done()
	d.q.Drain(drainTimeout)
	s.setConnected(false, errors.New("stopped"))
	return nil
}

// subscribeV3 subscribes to every route's filter; a refused filter is an
// error naming it.
func (s *Source) subscribeV3(ctx context.Context, c paho.Client) error {
	filters := make(map[string]byte, len(s.routes))
	for _, r := range s.routes {
		filters[r.From] = byte(r.QoS)
	}
	tok := c.SubscribeMultiple(filters, nil)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.cfg.connectTimeout()):
		return fmt.Errorf("mqtt: no SUBACK within %s", s.cfg.connectTimeout())
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqtt: subscribe: %w", err)
	}
	st, _ := tok.(*paho.SubscribeToken)
	if st == nil {
		return nil
	}
	for f, code := range st.Result() {
		if code == 0x80 {
			return fmt.Errorf("mqtt: the broker refused the subscription to %q", f)
		}
	}
	return nil
}
