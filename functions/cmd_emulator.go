package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
)

// runEmulator serves the Graph + login emulator until interrupted, so ctsync
// (or any Graph client) can be pointed at it through the same settings that
// point it at a real cloud. With --env-file the settings are written to a
// file once it is ready, so a script can start it in the background and go
// on; faults can be injected at start (--fault) or while it runs (POST
// /_emulator/faults), and GET /_emulator/state shows what the tenants hold.
func runEmulator(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("emulator")
	addr := fs.String("addr", "127.0.0.1:8443", "address to listen on; loopback unless you mean otherwise")
	caOut := fs.String("ca-out", "", "where to write the emulator's CA certificate (default: <state dir>/emulator-ca.pem)")
	envFile := fs.String("env-file", "", "write the settings that point ctsync at the emulator to this file once it is ready (then: . FILE)")
	replication := fs.Duration("replication-delay", 2*time.Second, "how long new apps stay unreadable (jobs: half of it), as Entra's replication")
	cycle := fs.Duration("cycle-interval", 5*time.Second, "how often a started job runs a synchronization cycle")
	pairs := fs.Int("pairs", 0, "more tenant pairs to create besides Contoso and Fabrikam (listed in GET /_emulator/state)")
	var faults stringList
	fs.Var(&faultList{&faults}, "fault", "inject a fault: method=POST,path=/instantiate,status=429,retryAfter=2,times=1 "+
		"(keys: method, path, tenant, status, code, retryAfter, times, skip, latency, drop); repeatable")
	if _, err := env.parse(fs, args); err != nil {
		return err
	}
	if err := notNegative("replication-delay", *replication); err != nil {
		return err
	}
	if err := positive("cycle-interval", *cycle); err != nil {
		return err
	}
	if *pairs < 0 || *pairs > 10000 {
		return fmt.Errorf("%w: --pairs must be 0 to 10000", errUsage)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", errUsage, *addr, err)
	}
	if *caOut == "" {
		*caOut = filepath.Join(env.stateDir(), "emulator-ca.pem")
	}
	sim, err := graphsim.Start(graphsim.Options{Addr: *addr, AppReplicationDelay: *replication, JobReplicationDelay: *replication / 2, CycleInterval: *cycle})
	if err != nil {
		return err
	}
	defer sim.Close()
	sim.AddSampleTenants()
	more := sim.AddTenantPairs(*pairs)
	for _, spec := range faults {
		f, _ := graphsim.ParseFaultSpec(spec) // checked when the flag was parsed
		fault, _ := f.Fault()
		sim.Inject(fault)
	}
	if err := os.MkdirAll(filepath.Dir(*caOut), 0o700); err != nil {
		return err
	}
	// The CA certificate is public; it must be readable by whatever trusts it.
	if err := os.WriteFile(*caOut, sim.CA.CertPEM, 0o644); err != nil {
		return err
	}
	settings := [][2]string{
		{"AZURE_AUTHORITY_HOST", sim.URL + "/"}, {"CTSYNC_GRAPH_ENDPOINT", sim.URL}, {"SSL_CERT_FILE", *caOut},
		{"AZURE_CLIENT_ID", sim.ClientID()}, {"AZURE_CLIENT_SECRET", sim.ClientSecret()},
	}
	var exports strings.Builder
	for _, kv := range settings {
		fmt.Fprintf(&exports, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	if *envFile != "" {
		if err := writeFileAtomically(*envFile, []byte(exports.String()), 0o600); err != nil {
			return err
		}
		defer os.Remove(*envFile) // its settings point at an emulator that is gone
	}
	w := env.stdout
	fmt.Fprintf(w, "# Graph + login emulator on %s (until Ctrl-C). Point ctsync at it with:\n%s", sim.URL, exports.String())
	if *envFile != "" {
		fmt.Fprintf(w, "# (also written to %s: `. %s`)\n", *envFile, *envFile)
	}
	fmt.Fprintf(w, "# tenants: source %s (Contoso), target %s (Fabrikam)", graphsim.SampleSourceTenant, graphsim.SampleTargetTenant)
	if len(more) > 0 {
		fmt.Fprintf(w, ", and %d more pair(s)", len(more))
	}
	fmt.Fprintf(w, "\n# then: ctsync onboard --source-tenant %s --target-tenant %s --name 'Contoso to Fabrikam' --user %s --group %s --wait\n",
		graphsim.SampleSourceTenant, graphsim.SampleTargetTenant, graphsim.SampleUsers[0].ID, graphsim.SampleGroup)
	fmt.Fprintf(w, "# state: curl --cacert %s %s/_emulator/state; faults: POST %s/_emulator/faults\n", *caOut, sim.URL, sim.URL)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(env.stderr, "warning: the emulator listens on %s, beyond this machine; it accepts a fixed client secret\n", *addr)
	}
	<-ctx.Done()
	return nil
}

// faultList checks each --fault as it is parsed, so a bad one is a usage
// error naming the key.
type faultList struct{ specs *stringList }

func (f *faultList) String() string {
	if f.specs == nil {
		return ""
	}
	return f.specs.String()
}

func (f *faultList) Set(v string) error {
	if _, err := graphsim.ParseFaultSpec(v); err != nil {
		return err
	}
	*f.specs = append(*f.specs, v)
	return nil
}

// shellQuote quotes v for a POSIX shell's export line.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// writeFileAtomically writes data to a temporary file beside path and
// renames it into place, so a reader never sees half of it.
func writeFileAtomically(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
