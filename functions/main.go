// Command ctsync sets up and watches Microsoft Entra cross-tenant
// synchronization as a chain of event-driven steps. The same binary runs
// the local host (default), serves as the Azure Functions custom handler and
// as the AWS Lambda bootstrap; the folders next to this file hold the Azure
// Functions bindings generated from the chain table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/steps"
)

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

type command struct {
	name, args, help string
	run              func(ctx context.Context, env *environment, args []string) error
}

func commands() []command {
	return []command{
		{"onboard", "--source-tenant S --target-tenant T --name NAME --user ID [--user ID…] [--group ID…] [--wait]",
			"post an onboarding; with --wait, run it to the end showing each step", runOnboard},
		{"status", "[ONBOARDING_ID]", "show where each onboarding stands, or one onboarding's steps", runStatus},
		{"demo", "", "start the built-in Graph emulator, onboard a demo tenant pair and show the result", runDemo},
		{"serve", "[--harvest-interval 15m] [--harvest-out FILE]", "run the local host until interrupted: queue workers and the log harvester's timer", runServe},
		{"harvest", "--once [--out FILE]", "collect new provisioning logs once (JSON Lines to FILE or stdout; progress on stderr)", runHarvest},
		{"logs", "[--config SP_ID] [--status failure] [--since 24h|RFC3339] [--user ID|NAME] [--limit N] [--json]", "query collected provisioning logs", runLogs},
		{"dlq", "list | replay SEQ… | replay --all", "show dead-lettered messages or send them back after fixing the cause", runDLQ},
		{"emulator", "[--addr 127.0.0.1:8443] [--ca-out FILE]", "run the Graph + login emulator standalone and print the settings to use it", runEmulator},
		{"functions-host", "", "serve the Azure Functions custom handler protocol (started by the Functions host, see host.json)", runFunctionsHost},
		{"lambda", "", "serve AWS Lambda invocations (run as the function's bootstrap, see infra/aws)", runLambda},
		{"sqs-consume", "[--duplicate] [--batch-size 5] [--harvest-interval D]", "run the Lambda handler here, fed from SQS as Lambda's event source mapping would (rehearsal, tests)", runSQSConsume},
		{"version", "", "print the version", func(context.Context, *environment, []string) error { fmt.Println(version()); return nil }},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "ctsync — Microsoft Entra cross-tenant synchronization, step by step.\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  ctsync %-9s %s\n      %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintf(w, "\nConfiguration is read from the environment; see README.md (CTSYNC_STATE_DIR, AZURE_CLIENT_ID, …).\n")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	// Lambda's provided runtimes start an executable named bootstrap, without
	// arguments.
	if filepath.Base(os.Args[0]) == "bootstrap" && len(args) == 0 {
		args = []string{"lambda"}
	}
	os.Exit(run(ctx, args, os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	env := &environment{getenv: getenv, stdout: stdout, stderr: stderr}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stderr, "ctsync %s: %v\n", c.name, strings.TrimPrefix(err.Error(), "usage: "))
			}
			fmt.Fprintf(stderr, "usage: ctsync %s %s\n", c.name, c.args)
			return 2
		default:
			fmt.Fprintf(stderr, "ctsync %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "ctsync: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// environment is what commands read and write.
type environment struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

func (e *environment) stateDir() string { return app.DefaultStateDir(e.getenv) }

// logger writes JSON logs to stderr at CTSYNC_LOG_LEVEL (debug, info, warn,
// error), defaulting to level.
func (e *environment) logger(level slog.Level) *slog.Logger {
	if v := strings.ToLower(e.getenv("CTSYNC_LOG_LEVEL")); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// duration reads a duration setting, naming it when it does not parse.
func (e *environment) duration(name string, into *time.Duration) error {
	if v := e.getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s=%q is not a positive duration (e.g. 90s, 5m)", name, v)
		}
		*into = d
	}
	return nil
}

func (e *environment) integer(name string, into *int) error {
	if v := e.getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%s=%q is not a positive whole number", name, v)
		}
		*into = n
	}
	return nil
}

// appConfig reads the local host's configuration from the environment.
func (e *environment) appConfig(log *slog.Logger) (app.Config, error) {
	gc, err := graph.FromEnv(e.getenv)
	if err != nil {
		return app.Config{}, err
	}
	cfg := app.Config{StateDir: e.stateDir(), Graph: gc, Log: log, Chain: app.ChainConfig{Steps: steps.Options{}, Policy: chain.Policy{}}}
	for name, into := range map[string]*time.Duration{
		"CTSYNC_REPLICATION_WINDOW": &cfg.Chain.Steps.ReplicationWindow,
		"CTSYNC_REPLICATION_POLL":   &cfg.Chain.Steps.ReplicationPoll,
		"CTSYNC_MONITOR_INTERVAL":   &cfg.Chain.Steps.MonitorInterval,
		"CTSYNC_RETRY_BASE_DELAY":   &cfg.Chain.Policy.BaseDelay,
		"CTSYNC_RETRY_MAX_DELAY":    &cfg.Chain.Policy.MaxDelay,
		"CTSYNC_LOCK":               &cfg.Lock,
	} {
		if err := e.duration(name, into); err != nil {
			return cfg, err
		}
	}
	for name, into := range map[string]*int{"CTSYNC_WORKERS": &cfg.Workers, "CTSYNC_MAX_ATTEMPTS": &cfg.Chain.Policy.MaxAttempts} {
		if err := e.integer(name, into); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
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

// parseFlags parses args, allowing flags after positional arguments
// (`ctsync status ID --json`), and turns flag errors into usage errors. The
// positional arguments are returned.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

// version reports the module version and VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "ctsync (unknown build)"
	}
	v := "ctsync " + info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v + " " + info.GoVersion
}
