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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/pkg/api"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/chain"
	"github.com/ctsync/ctsync/pkg/graph"
	"github.com/ctsync/ctsync/pkg/onboarding"
	"github.com/ctsync/ctsync/pkg/steps"
)

func commands() []command {
	return []command{
		{"onboard", "--source-tenant S --target-tenant T --name NAME --user ID [--user ID…] [--group ID…] [--wait]",
			"post an onboarding; with --wait, run the local queue until it completes, showing each step", 0, runOnboard},
		{"plan", "-f FILE [--output text|json] [--resume-jobs] [--recreate]", "read both tenants of every pair in FILE and show what apply would change, users leaving the scope first (exit 2: changes pending)", 0, runPlan},
		{"apply", "-f FILE [--yes] [--wait] [--timeout D] [--resume-jobs] [--recreate]", "bring every pair in FILE to its desired state through the chain; asks first when users or assignments would be removed", 0, runApply},
		{"offboard", "--source-tenant S --target-tenant T [--remove-partners] [--yes] [--wait]",
			"show what taking a pair apart deletes (in Microsoft's order; synchronized accounts stay), ask, then do it through the chain", 0, runOffboard},
		{"drift", "", "check every pair apply manages against its recorded desired configuration once, as the drift timer does; alert what is new (exit 2: drift)", 0, runDrift},
		{"approve-deletes", "--source-tenant S --target-tenant T --name NAME [--yes]", "let a job make the deletions its accidental-deletion threshold held back (restart with ForceDeletes)", 0, runApproveDeletes},
		{"status", "[ONBOARDING_ID]", "show where each onboarding stands, or one onboarding's steps", 1, runStatus},
		{"demo", "", "start the built-in Graph emulator, onboard a demo tenant pair and show the result", 0, runDemo},
		{"serve", "[--harvest-interval 15m] [--harvest-out FILE]", "run the local host until interrupted: queue workers and the log harvester's timer", 0, runServe},
		{"harvest", "--once [--out FILE]", "collect new provisioning logs once (JSON Lines to FILE or stdout; progress on stderr)", 0, runHarvest},
		{"logs", "[--config SP_ID] [--status failure] [--since 24h|RFC3339] [--user ID|NAME] [--limit N]", "query collected provisioning logs", 0, runLogs},
		{"dlq", "list | replay SEQ… | replay --all | discard SEQ… | discard --all", "show dead-lettered messages, send them back after fixing the cause, or discard those that can never succeed", -1, runDLQ},
		{"emulator", "[--addr 127.0.0.1:8443] [--env-file FILE] [--pairs N] [--fault SPEC…]", "run the Graph + login emulator standalone and hand over the settings to use it", 0, runEmulator},
		{"functions-host", "", "serve the Azure Functions custom handler protocol (started by the Functions host, see host.json)", 0, runFunctionsHost},
		{"lambda", "", "serve AWS Lambda invocations (run as the function's bootstrap, see infra/aws)", 0, runLambda},
		{"sqs-consume", "[--duplicate] [--batch-size 5] [--harvest-interval D]", "run the Lambda handler here, fed from SQS as Lambda's event source mapping would (rehearsal, tests)", 0, runSQSConsume},
		{"version", "", "print the version and the revision it was built from", 0, runVersion},
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
	switch {
	case len(args) == 0 || args[0] == "-h" || args[0] == "--help":
		usage(stdout)
		return exitOK
	case args[0] == "--version" || args[0] == "-version":
		fmt.Fprintln(stdout, currentVersion())
		return exitOK
	case args[0] == "help" && len(args) > 1:
		args = []string{args[1], "--help"} // `ctsync help onboard`
	case args[0] == "help":
		usage(stdout)
		return exitOK
	}
	env := &environment{getenv: getenv, stdout: stdout, stderr: stderr}
	if _, err := env.logLevel(slog.LevelInfo); err != nil {
		fmt.Fprintf(stderr, "ctsync: %v\n", err)
		return exitError
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		env.cmd = c
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil, errors.Is(err, errHelpShown):
			return exitOK
		case errors.Is(err, errChangesPending):
			return exitChanges
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "ctsync %s: %v\n", c.name, strings.TrimPrefix(err.Error(), "usage: "))
			fmt.Fprintf(stderr, "usage: ctsync %s %s  (ctsync %s --help lists every flag)\n", c.name, c.args, c.name)
			return exitError
		default:
			fmt.Fprintf(stderr, "ctsync %s: %v\n", c.name, err)
			return exitError
		}
	}
	fmt.Fprintf(stderr, "ctsync: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitError
}

// environment is what commands read and write.
type environment struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	cmd            command       // the command running
	flags          *flag.FlagSet // its flags, once parsed (for tests)
}

func (e *environment) stateDir() string { return app.DefaultStateDir(e.getenv) }

// logger writes JSON logs to stderr — never to stdout, which carries the
// command's output — at CTSYNC_LOG_LEVEL, defaulting to level.
func (e *environment) logger(level slog.Level) *slog.Logger {
	level, _ = e.logLevel(level) // validated before any command ran
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// logLevel reads CTSYNC_LOG_LEVEL: debug, info, warn or error.
func (e *environment) logLevel(fallback slog.Level) (slog.Level, error) {
	v := strings.ToLower(strings.TrimSpace(e.getenv("CTSYNC_LOG_LEVEL")))
	switch v {
	case "":
		return fallback, nil
	case "debug", "info", "warn", "error":
		var l slog.Level
		err := l.UnmarshalText([]byte(v))
		return l, err
	}
	return fallback, fmt.Errorf("CTSYNC_LOG_LEVEL=%q: must be debug, info, warn or error", e.getenv("CTSYNC_LOG_LEVEL"))
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
	if cfg.Chain.Tenants, err = e.allowedTenants(); err != nil {
		return cfg, err
	}
	for name, into := range map[string]*int{"CTSYNC_WORKERS": &cfg.Workers, "CTSYNC_MAX_ATTEMPTS": &cfg.Chain.Policy.MaxAttempts,
		"CTSYNC_TENANT_CONCURRENCY": &cfg.Chain.PerTenant} {
		if err := e.integer(name, into); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// allowedTenants reads the tenant allow-list: CTSYNC_ALLOWED_TENANTS
// (comma-separated) or CTSYNC_ALLOWED_TENANTS_FILE (one per line; Lambda
// caps all environment variables together at 4 KB). Neither set: every
// tenant the application can reach (nil).
func (e *environment) allowedTenants() (*onboarding.Tenants, error) {
	list, file := e.getenv("CTSYNC_ALLOWED_TENANTS"), e.getenv("CTSYNC_ALLOWED_TENANTS_FILE")
	switch {
	case list != "" && file != "":
		return nil, errors.New("set CTSYNC_ALLOWED_TENANTS or CTSYNC_ALLOWED_TENANTS_FILE, not both")
	case list != "":
		return onboarding.ParseTenants(list, "CTSYNC_ALLOWED_TENANTS")
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("CTSYNC_ALLOWED_TENANTS_FILE: %w", err)
		}
		return onboarding.ParseTenants(string(raw), "CTSYNC_ALLOWED_TENANTS_FILE "+file)
	}
	return nil, nil
}

// intakeToken reads the API's bearer token: CTSYNC_INTAKE_TOKEN, or the
// file CTSYNC_INTAKE_TOKEN_FILE names (a mounted secret). The API does not
// start without one.
func (e *environment) intakeToken() (string, error) {
	token, file := e.getenv("CTSYNC_INTAKE_TOKEN"), e.getenv("CTSYNC_INTAKE_TOKEN_FILE")
	switch {
	case token != "" && file != "":
		return "", errors.New("set CTSYNC_INTAKE_TOKEN or CTSYNC_INTAKE_TOKEN_FILE, not both")
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("CTSYNC_INTAKE_TOKEN_FILE: %w", err)
		}
		token = strings.TrimSpace(string(raw))
	}
	if strings.TrimSpace(token) == "" {
		return "", errors.New("--listen needs a bearer token: set CTSYNC_INTAKE_TOKEN (at least 32 characters, e.g. `openssl rand -hex 32`) or CTSYNC_INTAKE_TOKEN_FILE")
	}
	if len(strings.TrimSpace(token)) < api.MinTokenLength {
		return "", fmt.Errorf("the intake token must be at least %d characters (e.g. `openssl rand -hex 32`)", api.MinTokenLength)
	}
	return token, nil
}
