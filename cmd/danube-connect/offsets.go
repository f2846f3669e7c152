package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
)

type offsetsFlags struct {
	dir, connector, file string
	sets                 []string
}

func (f *offsetsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "offsets directory (default: source.offsets_dir of -c, else \"offsets\")")
	fl.StringVar(&f.connector, "connector", "", "connector name (default: connector_name of -c)")
	fl.StringVarP(&f.file, "config", "c", "", "take the directory and connector name from this configuration file")
	fl.StringArrayVar(&f.sets, "set", nil, "override a key of -c")
}

// resolve returns the offset store and connector name ("" for all).
func (f *offsetsFlags) resolve(c *cli) (*connect.FileOffsetStore, string, error) {
	dir, name := f.dir, f.connector
	if f.file != "" {
		doc, err := config.LoadDocument(f.file, connectors.Catalog(), config.Options{Env: c.env, Set: f.sets})
		if err != nil {
			return nil, "", err
		}
		if dir == "" {
			dir = doc.Core.Source.OffsetsDir
		}
		if name == "" {
			name = doc.Core.ConnectorName
		}
	}
	if dir == "" {
		dir = connect.DefaultOffsetDir
	}
	return connect.NewFileOffsetStore(dir), name, nil
}

func newOffsetsCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "offsets",
		Short: "Show or reset the committed offsets of source connectors",
		Long: `Source connectors commit the position of the last record the broker confirmed
to <offsets_dir>/<connector_name>.offsets.json. These commands read and
change those files; stop the connector first.`,
	}
	var show offsetsFlags
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Print committed offsets as JSON",
		Example: `  danube-connect offsets show -c examples/quickstart/generator.toml
  danube-connect offsets show --dir offsets`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, name, err := show.resolve(c)
			if err != nil {
				return err
			}
			if fi, err := os.Stat(store.Dir); err != nil || !fi.IsDir() {
				if errors.Is(err, fs.ErrNotExist) {
					return usagef("offsets directory %s does not exist (no source has committed offsets there; see --dir, -c)", store.Dir)
				}
				if err == nil {
					return usagef("offsets directory %s is not a directory", store.Dir)
				}
				return fmt.Errorf("offsets directory: %w", err)
			}
			names := []string{name}
			if name == "" {
				entries, err := os.ReadDir(store.Dir)
				if err != nil {
					return fmt.Errorf("read offsets directory: %w", err)
				}
				names = nil
				for _, e := range entries {
					if n, ok := strings.CutSuffix(e.Name(), ".offsets.json"); ok {
						names = append(names, n)
					}
				}
			}
			out := map[string]connect.Offsets{}
			for _, n := range names {
				if _, err := os.Stat(store.Path(n)); errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintf(c.stderr, "no committed offsets for %s in %s\n", n, store.Dir)
				}
				offs, err := store.Load(cmd.Context(), n)
				if err != nil {
					return err
				}
				out[n] = offs
			}
			b, _ := json.MarshalIndent(out, "", "  ")
			_, err = fmt.Fprintf(c.stdout, "%s\n", b)
			return err
		},
	}
	show.register(showCmd)
	var reset offsetsFlags
	var to []string
	resetCmd := &cobra.Command{
		Use:   "reset",
		Short: "Forget committed offsets, or set them",
		Long:  "Reset deletes a connector's offset file, so the source starts from the beginning, or with --to replaces its offsets.",
		Example: `  danube-connect offsets reset -c examples/quickstart/generator.toml
  danube-connect offsets reset --connector gen --to sequence=499`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, name, err := reset.resolve(c)
			if err != nil {
				return err
			}
			if name == "" {
				return usagef("name the connector: --connector NAME or -c FILE")
			}
			if len(to) == 0 {
				err := os.Remove(store.Path(name))
				switch {
				case errors.Is(err, fs.ErrNotExist):
					fmt.Fprintf(c.stderr, "%s has no committed offsets (no %s): nothing to reset\n", name, filepath.Clean(store.Path(name)))
					return nil
				case err != nil:
					return fmt.Errorf("reset offsets: %w", err)
				}
				fmt.Fprintf(c.stderr, "offsets of %s reset: %s removed; the source starts from the beginning\n", name, filepath.Clean(store.Path(name)))
				return nil
			}
			offs := connect.Offsets{}
			for _, kv := range to {
				p, pos, ok := strings.Cut(kv, "=")
				if !ok {
					return usagef("--to %q: want partition=position", kv)
				}
				offs[p] = pos
			}
			if err := store.Save(cmd.Context(), name, offs); err != nil {
				return err
			}
			pairs := make([]string, 0, len(offs))
			for _, p := range slices.Sorted(maps.Keys(offs)) {
				pairs = append(pairs, p+"="+offs[p])
			}
			fmt.Fprintf(c.stderr, "offsets of %s set to %s (%s)\n", name, strings.Join(pairs, ", "), filepath.Clean(store.Path(name)))
			return nil
		},
	}
	reset.register(resetCmd)
	resetCmd.Flags().StringArrayVar(&to, "to", nil, "set partition=position instead of removing the file (repeatable)")
	cmd.AddCommand(showCmd, resetCmd)
	return cmd
}
