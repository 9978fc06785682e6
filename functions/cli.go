package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"
)

// Exit statuses, Terraform's convention: 0 success, 1 any error (a usage
// mistake included), 2 only for `plan`'s "changes pending".
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2
)

// errUsage marks a command-line mistake: the command's usage line follows
// the message.
var errUsage = errors.New("usage")

// errChangesPending is `plan`'s answer when apply would change something
// (exit status 2).
var errChangesPending = errors.New("changes pending")

// errHelpShown means --help was answered; the command succeeded.
var errHelpShown = errors.New("help shown")

// command is one subcommand. maxArgs is how many positional arguments it
// takes (-1: any number).
type command struct {
	name, args, help string
	maxArgs          int
	run              func(ctx context.Context, env *environment, args []string) error
}

// newFlagSet returns the command's flag set; the environment parses it.
func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

// parse parses args for the running command, allowing flags after
// positional arguments (`ctsync status ID --output json`). --help prints the
// command's usage and every flag with its default to stdout. Flag mistakes
// and more positional arguments than the command takes are usage errors.
func (e *environment) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	e.flags = fs
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.printHelp(fs)
				return nil, errHelpShown
			}
			// The flag package names flags with one dash; ctsync documents two.
			msg := strings.ReplaceAll(err.Error(), "flag provided but not defined: -", "unknown flag --")
			msg = strings.ReplaceAll(msg, " for flag -", " for flag --")
			msg = strings.ReplaceAll(msg, "flag needs an argument: -", "flag needs an argument: --")
			return nil, fmt.Errorf("%w: %s", errUsage, msg)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if max := e.cmd.maxArgs; max >= 0 && len(positional) > max {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, positional[max])
	}
	return positional, nil
}

// printHelp writes the command's usage, what it does, and its flags with
// their defaults.
func (e *environment) printHelp(fs *flag.FlagSet) {
	w, c := e.stdout, e.cmd
	fmt.Fprintf(w, "Usage: ctsync %s %s\n\n%s\n", c.name, c.args, c.help)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintf(w, "\nFlags:\n")
			first = false
		}
		kind, usage := flag.UnquoteUsage(f)
		switch {
		case isOutputFlag(f):
			kind = "text|json"
		case kind == "value":
			kind = "string" // repeatable lists take words
		}
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintf(w, "%s\n      %s", line, usage)
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintf(w, "\nSettings come from the environment (CTSYNC_*, AZURE_*); see README.md.\n")
}

// outputFormat is --output: text for people, json for automation.
type outputFormat string

const (
	outputText outputFormat = "text"
	outputJSON outputFormat = "json"
)

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Set(v string) error {
	switch outputFormat(v) {
	case outputText, outputJSON:
		*o = outputFormat(v)
		return nil
	}
	return fmt.Errorf("must be text or json, not %q", v)
}

func isOutputFlag(f *flag.Flag) bool {
	_, ok := f.Value.(*outputFormat)
	return ok
}

// outputFlag adds --output to fs. The JSON shapes are documented in
// functions/output.schema.json.
func outputFlag(fs *flag.FlagSet) *outputFormat {
	o := outputText
	fs.Var(&o, "output", "output format: text or json (see functions/output.schema.json)")
	return &o
}

// writeJSON writes v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// positive refuses a zero or negative duration flag.
func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: --%s must be a positive duration, not %s", errUsage, name, d)
	}
	return nil
}

// notNegative refuses a negative duration flag (zero turns something off).
func notNegative(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: --%s must not be negative (%s)", errUsage, name, d)
	}
	return nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// Set by `make build` through -ldflags -X; a plain `go build` leaves them
// empty and the module's build information is used.
var (
	buildVersion  string
	buildRevision string
)

// versionInfo is what `ctsync version` reports.
type versionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: buildVersion, Revision: buildRevision}
	if info, ok := debug.ReadBuildInfo(); ok {
		v.GoVersion = info.GoVersion
		if v.Version == "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Revision == "" {
					v.Revision = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Revision == "" {
		v.Revision = "unknown"
	}
	return v
}

func (v versionInfo) String() string {
	s := fmt.Sprintf("ctsync %s (revision %s", v.Version, v.Revision)
	if v.Modified {
		s += ", modified"
	}
	return s + ", " + v.GoVersion + ")"
}

func runVersion(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet("version")
	out := outputFlag(fs)
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if *out == outputJSON {
		return writeJSON(env.stdout, currentVersion())
	}
	fmt.Fprintln(env.stdout, currentVersion())
	return nil
}

// checkTimeout checks --timeout: positive, and only given with --wait.
func checkTimeout(fs *flag.FlagSet, wait bool, timeout time.Duration) error {
	if err := positive("timeout", timeout); err != nil {
		return err
	}
	if flagSet(fs, "timeout") && !wait {
		return fmt.Errorf("%w: --timeout only applies with --wait", errUsage)
	}
	return nil
}
