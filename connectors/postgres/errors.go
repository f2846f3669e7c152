package postgres

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/danube-connect/connect"
)

// sqlState returns the SQLSTATE of err, "" when it is not a server error.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// rowLevel reports whether err is a property of one row: a data exception
// (class 22: a value that does not convert, out of range, bad encoding), an
// integrity constraint violation (class 23: not null, unique, check,
// foreign key) or a program limit (class 54: a value too large to index).
func rowLevel(err error) bool {
	switch c := sqlState(err); {
	case len(c) != 5:
		return false
	default:
		switch c[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}

// describe formats a server error with its SQLSTATE, message and detail.
func describe(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	s := fmt.Sprintf("SQLSTATE %s: %s", pe.Code, pe.Message)
	if pe.Detail != "" {
		s += " (" + pe.Detail + ")"
	}
	return s
}

// classify maps an error of a write to its delivery class by SQLSTATE
// class, never by error text:
//
//   - 08 connection exception, 40 transaction rollback (serialization
//     failure, deadlock), 53 insufficient resources (too many connections,
//     disk full), 55 object not in prerequisite state (lock not available),
//     57 operator intervention (admin shutdown, cancel), 58 system error,
//     network errors, timeouts and any other error without a SQLSTATE →
//     Retryable;
//   - 22, 23, 54 (a row's data) → InvalidData;
//   - 42 syntax error or access rule violation (a table or column dropped
//     or a privilege revoked while running), 3D/3F missing database or
//     schema, 0A feature not supported → Fatal: retrying cannot help and
//     dead-lettering would discard good records;
//   - other SQLSTATEs → Retryable.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	code := sqlState(err)
	e := fmt.Errorf("postgres: %s: %s", what, describe(err))
	if code == "" {
		return connect.Retryable(fmt.Errorf("postgres: %s: %w", what, err))
	}
	switch code[:2] {
	case "08", "40", "53", "55", "57", "58":
		return connect.Retryable(e)
	case "22", "23", "54":
		return connect.InvalidData(e)
	case "42", "3D", "3F", "0A":
		return connect.Fatal(e)
	}
	return connect.Retryable(e)
}

// classifyOpen maps an error met while opening: a server that cannot be
// reached is an ordinary error (exit code 1: a supervisor retries), wrong
// credentials, a missing database and an untrusted certificate are
// Configuration errors (exit code 2).
func classifyOpen(what string, err error) error {
	code := sqlState(err)
	if code != "" {
		switch code[:2] {
		case "28", "3D", "42", "3F":
			return connect.Configuration(fmt.Errorf("postgres: %s: %s", what, describe(err)))
		}
		return fmt.Errorf("postgres: %s: %s", what, describe(err))
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) {
		return connect.Configuration(fmt.Errorf("postgres: %s: %w", what, err))
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
