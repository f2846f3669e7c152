package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
)

// configFlags are the flags shared by run and validate.
type configFlags struct {
	files []string
	sets  []string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "config", "c", nil, "connector configuration file (TOML, or YAML for .yaml/.yml); repeat for several (default: $"+config.EnvConfigPath+")")
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override a key, e.g. --set retry.max_retries=5 (repeatable; beats the file and the environment). A connector's key (generator.rate=5) applies only to files of that connector; NAME:key=value only to the file whose connector_name is NAME")
}

// paths returns the files to load: -c flags, else CONNECTOR_CONFIG_PATH.
func (f *configFlags) paths(c *cli) ([]string, error) {
	if len(f.files) > 0 {
		return f.files, nil
	}
	if p := c.getenv(config.EnvConfigPath); p != "" {
		return []string{p}, nil
	}
	return nil, usagef("no configuration file: pass -c FILE or set %s", config.EnvConfigPath)
}

func (f *configFlags) options(c *cli, extra ...string) config.Options {
	return config.Options{Env: c.env, Set: append(append([]string(nil), f.sets...), extra...)}
}

// loadDocuments loads every file, reporting the problems of all of them.
func loadDocuments(paths []string, opts config.Options) ([]*config.Document, error) {
	var docs []*config.Document
	var errs []error
	names := map[string]string{}
	for _, p := range paths {
		doc, err := config.LoadDocument(p, connectors.Catalog(), opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkKind(doc); err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := names[doc.Core.ConnectorName]; dup {
			errs = append(errs, &config.Error{Source: p, Problems: []*config.FieldError{{Path: "connector_name",
				Msg: fmt.Sprintf("%q is also the name of the connector in %s; names must be unique", doc.Core.ConnectorName, other)}}})
			continue
		}
		names[doc.Core.ConnectorName] = p
		docs = append(docs, doc)
	}
	if len(errs) == 0 {
		if err := unmatchedSets(docs, opts.Set); err != nil {
			errs = append(errs, err)
		}
	}
	return docs, joinConfigErrors(errs)
}

// unmatchedSets reports --set overrides that applied to no file: one
// scoped to a connector name no file has (NAME:key=value), or one of a
// connector section no file runs (generator.rate=5 without a generator).
func unmatchedSets(docs []*config.Document, sets []string) error {
	var probs []*config.FieldError
	for _, s := range sets {
		scope, key, _, ok := config.SplitSet(s)
		if !ok {
			continue
		}
		section, _, _ := strings.Cut(strings.ReplaceAll(key, "[", "."), ".")
		_, isSection := connectors.Lookup(section)
		matched := false
		for _, d := range docs {
			if (scope == "" || scope == d.Core.ConnectorName) && (!isSection || !strings.Contains(key, ".") || d.Core.Connector == section) {
				matched = true
			}
		}
		if !matched {
			msg := "no file runs the " + section + " connector"
			if scope != "" {
				msg = fmt.Sprintf("no file has connector_name %q", scope)
				if isSection && strings.Contains(key, ".") {
					msg += " running the " + section + " connector"
				}
			}
			probs = append(probs, &config.FieldError{Path: "(--set " + s + ")", Msg: msg})
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return &config.Error{Source: "command line", Problems: probs}
}

// joinConfigErrors joins per-file errors keeping errors.As(*config.Error)
// working (exit code 2).
func joinConfigErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

func newValidateCmd(c *cli) *cobra.Command {
	var flags configFlags
	var print bool
	cmd := &cobra.Command{
		Use:   "validate -c FILE...",
		Short: "Check connector configuration files",
		Long: `Validate loads each file exactly as run would (defaults < file < environment <
--set) and reports every problem at once: unknown keys with a suggestion, type
errors naming the expected type, missing required keys, values outside their
range. It exits with 2 when a file is invalid.`,
		Example: `  danube-connect validate -c examples/quickstart/generator.toml
  danube-connect validate -c sink.toml --set topics[0].subscription=audit --print`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			paths, err := flags.paths(c)
			if err != nil {
				return err
			}
			docs, err := loadDocuments(paths, flags.options(c))
			out := &stickyWriter{w: c.stdout}
			for _, d := range docs {
				e, _ := connectors.Lookup(d.Core.Connector)
				inferred := ""
				if d.Inferred {
					inferred = ", inferred from its section"
				}
				fmt.Fprintf(out, "%s: ok (%s %s %q%s)\n", d.Source, d.Core.Connector, e.Kind, d.Core.ConnectorName, inferred)
				if print {
					io.WriteString(out, d.Dump())
					fmt.Fprintln(out)
				}
			}
			if err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			return out.err
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&print, "print", false, "print the effective configuration (secrets redacted)")
	return cmd
}

func newDocsCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "docs [connector]",
		Short: "Print the configuration reference (markdown)",
		Long:  "Docs prints the configuration reference generated from the configuration structs: the core keys and every built-in connector's section, or one connector's section.",
		Example: `  danube-connect docs > docs/config-reference.md
  danube-connect docs generator`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			only := ""
			if len(args) == 1 {
				only = args[0]
				if _, ok := connectors.Lookup(only); !ok {
					return usagef("unknown connector %q (one of %v)", only, connectors.Catalog().Names())
				}
			}
			out := &stickyWriter{w: c.stdout}
			if err := writeReference(out, only); err != nil {
				return err
			}
			return out.err
		},
	}
}

// writeReference writes the markdown configuration reference; only, when
// set, restricts it to one connector's section.
func writeReference(w io.Writer, only string) error {
	if only == "" {
		fmt.Fprint(w, `# Configuration reference

<!-- Generated by "danube-connect docs" from the configuration structs; do not edit. -->

A connector configuration file (TOML, or YAML for .yaml/.yml) holds the core
keys below and the section of the connector it runs, named by `+"`connector`"+`.
Without a `+"`connector`"+` key the connector is the one whose section the file has
(a Rust connector's file: `+"`[mqtt]`"+` runs the mqtt connector).

Precedence: defaults < file < environment < `+"`--set`"+` flags. Any key can be set
from the environment as `+"`DANUBE_CONNECT__<SECTION>__<KEY>`"+` (path segments joined
by double underscores, list elements by index: `+"`DANUBE_CONNECT__TOPICS__0__TOPIC`"+`);
`+"`--set`"+` and environment keys of a connector's section apply only to files of that
connector, and `+"`--set NAME:key=value`"+` only to the file whose `+"`connector_name`"+` is NAME;
`+"`DANUBE_SERVICE_URL`"+` and `+"`CONNECTOR_NAME`"+` set the two core keys as in the Rust SDK, and
`+"`CONNECTOR_CONFIG_PATH`"+` names the file when `+"`-c`"+` is not given. Strings may reference
the environment with `+"`${VAR}`"+` or `+"`${VAR:-default}`"+`. Unknown keys are errors.

`)
		if err := config.Markdown(w, 2, "Core keys", "", "", &config.Core{}); err != nil {
			return err
		}
	}
	for _, e := range connectors.All() {
		if only != "" && e.Name != only {
			continue
		}
		intro := fmt.Sprintf("A %s. %s Set `connector = %q`; its keys live in `[%s]`.", e.Kind, e.Summary, e.Name, e.Name)
		if err := config.Markdown(w, 2, "Connector `"+e.Name+"`", intro, e.Name, e.NewConfig()); err != nil {
			return err
		}
	}
	return nil
}

// stickyWriter remembers the first write error, so that a command printing
// many lines reports a failed standard output (exit 1) once.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = fmt.Errorf("write output: %w", err)
	}
	return n, err
}
