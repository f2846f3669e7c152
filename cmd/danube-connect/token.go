package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect/devbroker"
)

// envJWTSecret is the environment variable giving the devbroker's JWT
// secret to the token and devbroker commands.
const envJWTSecret = "DANUBE_JWT_SECRET"

func newTokenCmd(c *cli) *cobra.Command {
	var secret, subject string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --secret SECRET",
		Short: "Mint a bearer token for a devbroker started with --jwt-secret",
		Long: `Token prints an HS256 JWT signed with the secret that a devbroker started with
--jwt-secret (and a Danube broker with the same secret in tls auth mode)
accepts. Its claims are the ones such a broker requires: iss ("danube-auth"),
sub and principal_name (--subject), principal_type (service_account) and exp
(now + --ttl). Pass it to the tools with --token or DANUBE_TOKEN, and to
connectors with auth.token. The secret may come from ` + envJWTSecret + `.`,
		Example: `  danube-connect devbroker --jwt-secret s3cret &
  export DANUBE_TOKEN=$(danube-connect token --secret s3cret --subject me)
  danube-connect produce -t /default/hello -m hi`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				secret = c.getenv(envJWTSecret)
			}
			if secret == "" {
				return usagef("--secret is required (or set %s)", envJWTSecret)
			}
			if subject == "" {
				return usagef("--subject must not be empty")
			}
			if ttl <= 0 {
				return usagef("--ttl %s: want a positive duration", ttl)
			}
			tok, err := devbroker.MintToken([]byte(secret), subject, ttl)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(c.stdout, tok)
			return err
		},
	}
	cmd.Flags().StringVar(&secret, "secret", "", "HS256 secret of the broker (env "+envJWTSecret+" when not given)")
	cmd.Flags().StringVar(&subject, "subject", "danube-connect", "sub and principal_name of the token")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "validity of the token")
	return cmd
}
