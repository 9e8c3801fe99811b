// Package cmd is the autotag command tree (cobra). Every subcommand lives in its own
// file, is listed once in commands (root.go), and returns errors from RunE; Execute
// renders them once.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commands are the constructors of autotag's subcommands, in the order --help lists
// them (cobra's, by name); a new command is one more line here.
var commands = []func() *cobra.Command{
	newBenchCmd,
	newCompletionCmd,
	newDataCmd,
	newEvalCmd,
	newServeCmd,
	newTagCmd,
	newTrainCmd,
	newVersionCmd,
	newWeightsCmd,
}

// exitError carries a specific exit status out of a RunE (for example "some files
// failed" is status 1 without being a usage error).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExitCode wraps err so that Execute exits with code.
func withExitCode(code int, err error) error { return &exitError{code: code, err: err} }

// NewRootCommand builds the whole autotag command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "autotag",
		Short:         "Tag photos with a pretrained ResNet50, fine-tune a COCO head, serve it",
		Long:          "autotag tags photos automatically: a ResNet50 built in Gorgonia with pretrained\nweights, a multi-label head fine-tuned on COCO, a CLI, a Go library and a tag server.\n\nEvery flag can also be set with an environment variable AUTOTAG_<FLAG>\n(upper case, dashes as underscores), e.g. AUTOTAG_TOP_K=3.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, newCmd := range commands {
		root.AddCommand(newCmd())
	}
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return applyEnv(c) }
	decorateHelp(root)
	return root
}

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return "AUTOTAG_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets every flag of c that was not given on the command line from its
// AUTOTAG_<FLAG> variable, if set.
func applyEnv(c *cobra.Command) error {
	var errs []error
	set := func(fs *pflag.FlagSet) {
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Changed || f.Name == "help" {
				return
			}
			if v, ok := os.LookupEnv(envName(f.Name)); ok {
				if err := fs.Set(f.Name, v); err != nil {
					errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
				}
			}
		})
	}
	set(c.Flags())
	set(c.InheritedFlags())
	return errors.Join(errs...)
}

// decorateHelp appends the environment variable of each flag to its usage text, so
// --help lists them all.
func decorateHelp(c *cobra.Command) {
	add := func(f *pflag.Flag) {
		if f.Name == "help" || strings.Contains(f.Usage, "$AUTOTAG_") {
			return
		}
		f.Usage += " ($" + envName(f.Name) + ")"
	}
	c.Flags().VisitAll(add)
	c.PersistentFlags().VisitAll(add)
	for _, sub := range c.Commands() {
		decorateHelp(sub)
	}
}

// Execute runs the command line and returns the process exit status. SIGINT and
// SIGTERM cancel the context handed to every command, which stops work in flight
// (a decode stops within an MCU row); a second signal then kills the process the
// default way, for a command that does not stop soon enough.
func Execute(ctx context.Context) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the next signal is no longer caught
	}()
	root := NewRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "autotag:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 2
	}
	return 0
}
