package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ctsync/ctsync/pkg/graphsim"
)

// runEmulator serves the Graph + login emulator until interrupted, so ctsync
// (or any Graph client) can be pointed at it through the same settings that
// point it at a real cloud.
func runEmulator(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "address to listen on (loopback)")
	caOut := fs.String("ca-out", "", "where to write the emulator's CA certificate (default: <state dir>/emulator-ca.pem)")
	replication := fs.Duration("replication-delay", 2*time.Second, "how long new apps and jobs stay unreadable")
	cycle := fs.Duration("cycle-interval", 5*time.Second, "how often a started job runs a synchronization cycle")
	if _, err := parseFlags(fs, args); err != nil {
		return err
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
	if err := os.MkdirAll(filepath.Dir(*caOut), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(*caOut, sim.CA.CertPEM, 0o644); err != nil {
		return err
	}
	w := env.stdout
	fmt.Fprintf(w, "# Graph + login emulator on %s (until Ctrl-C). Point ctsync at it with:\n", sim.URL)
	fmt.Fprintf(w, "export AZURE_AUTHORITY_HOST=%s/\nexport CTSYNC_GRAPH_ENDPOINT=%s\nexport SSL_CERT_FILE=%s\n", sim.URL, sim.URL, *caOut)
	fmt.Fprintf(w, "export AZURE_CLIENT_ID=%s\nexport AZURE_CLIENT_SECRET=%s\n", sim.ClientID(), sim.ClientSecret())
	fmt.Fprintf(w, "# tenants: source %s (Contoso), target %s (Fabrikam)\n", graphsim.SampleSourceTenant, graphsim.SampleTargetTenant)
	fmt.Fprintf(w, "# then: ctsync onboard --source-tenant %s --target-tenant %s --name 'Contoso to Fabrikam' --user %s --group %s --wait\n",
		graphsim.SampleSourceTenant, graphsim.SampleTargetTenant, graphsim.SampleUsers[0].ID, graphsim.SampleGroup)
	<-ctx.Done()
	return nil
}
