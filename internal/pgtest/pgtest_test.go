package pgtest_test

import (
	"testing"

	"github.com/danube-connect/connect/internal/pgtest"
)

func TestStartRestart(t *testing.T) {
	s := pgtest.Start(t, pgtest.Options{})
	db := s.CreateDB(t)
	s.Exec(t, db, "CREATE TABLE x (a int)")
	s.Stop()
	s.Start()
	s.Exec(t, db, "INSERT INTO x VALUES (1)")
}
