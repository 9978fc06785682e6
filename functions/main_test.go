package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/graphsim"
	"github.com/ctsync/ctsync/pkg/harvest"
	"github.com/ctsync/ctsync/pkg/store"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ctsync-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ctsync")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build ctsync: " + err.Error() + "\n" + string(out))
	}
	code := emulators.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// ctsync runs the real binary with exactly env (no inherited variables, so
// the test sees what a fresh shell with these settings would).
func ctsync(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code == -1 {
		t.Fatalf("ctsync %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// startEmulator runs `ctsync emulator` and returns the settings it printed.
func startEmulator(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command(binary, "emulator", "--addr", "127.0.0.1:0", "--ca-out", filepath.Join(t.TempDir(), "ca.pem"),
		"--replication-delay", "300ms", "--cycle-interval", "500ms")
	cmd.Env = []string{"HOME=" + t.TempDir()}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	var env []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(env) < 5 {
		if v, ok := strings.CutPrefix(sc.Text(), "export "); ok {
			env = append(env, v)
		}
	}
	if len(env) != 5 {
		t.Fatalf("emulator printed %v", env)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return env
}

// fast makes retries and replication waits short for a test run.
var fast = []string{"CTSYNC_RETRY_BASE_DELAY=50ms", "CTSYNC_RETRY_MAX_DELAY=500ms", "CTSYNC_MAX_ATTEMPTS=60",
	"CTSYNC_REPLICATION_WINDOW=10s", "CTSYNC_REPLICATION_POLL=100ms", "CTSYNC_MONITOR_INTERVAL=500ms"}

func onboardArgs() []string {
	return []string{"onboard", "--source-tenant", graphsim.SampleSourceTenant, "--target-tenant", graphsim.SampleTargetTenant,
		"--name", "Contoso to Fabrikam", "--user", graphsim.SampleUsers[0].ID, "--user", graphsim.SampleUsers[1].ID,
		"--group", graphsim.SampleGroup, "--requested-by", "CHG0042137"}
}

func TestOnboardWaitAgainstAnotherEmulatorTrustedThroughSSLCertFile(t *testing.T) {
	env := append(append(startEmulator(t), fast...), "CTSYNC_STATE_DIR="+t.TempDir())
	out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait")...)
	if code != 0 || !strings.Contains(out, "✓ onboarding completed") || !strings.Contains(out, "14/14") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// A second run against the same tenants finds everything in place.
	out, _, code = ctsync(t, env, append(onboardArgs(), "--wait")...)
	if code != 0 || !strings.Contains(out, "already present") || strings.Contains(out, "created ") {
		t.Fatalf("re-run: exit %d\n%s", code, out)
	}
	list, _, code := ctsync(t, env, "status", "--output", "json")
	var res struct {
		Onboardings []struct{ OnboardingID, State string }
	}
	if code != 0 || json.Unmarshal([]byte(list), &res) != nil || len(res.Onboardings) != 2 {
		t.Fatalf("status: %d %s", code, list)
	}
	for _, o := range res.Onboardings {
		if o.State != "completed" {
			t.Errorf("onboarding %s is %s", o.OnboardingID, o.State)
		}
	}
	detail, _, code := ctsync(t, env, "status", res.Onboardings[0].OnboardingID)
	if code != 0 || !strings.Contains(detail, "ensure-configuration-app") || !strings.Contains(detail, "CHG0042137") {
		t.Fatalf("status %s: %d\n%s", res.Onboardings[0].OnboardingID, code, detail)
	}
}

func TestNationalCloudSettingWithOverridesReachesTheEmulator(t *testing.T) {
	env := append(append(startEmulator(t), fast...), "CTSYNC_STATE_DIR="+t.TempDir(), "CTSYNC_CLOUD=usgov")
	out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestOnboardRejectsBadInputNamingTheFlag(t *testing.T) {
	dir := []string{"CTSYNC_STATE_DIR=" + t.TempDir()}
	_, errOut, code := ctsync(t, dir, "onboard", "--name", "x")
	if code != 1 || !strings.Contains(errOut, "missing --source-tenant, --target-tenant, --user") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	args := onboardArgs()
	args[len(args)-5] = "adele@contoso.com" // the second --user
	_, errOut, code = ctsync(t, dir, args...)
	if code != 1 || !strings.Contains(errOut, "--user[1]") || !strings.Contains(errOut, "not a GUID") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, errOut, code = ctsync(t, dir, "onboard", "--bogus")
	if code != 1 || !strings.Contains(errOut, "usage: ctsync onboard") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestOnboardWithoutCredentialsSaysWhatToSet(t *testing.T) {
	_, errOut, code := ctsync(t, []string{"CTSYNC_STATE_DIR=" + t.TempDir()}, append(onboardArgs(), "--wait")...)
	if code != 1 || !strings.Contains(errOut, "AZURE_CLIENT_ID") || !strings.Contains(errOut, "ctsync demo") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestOnboardWithoutWaitQueuesForServe(t *testing.T) {
	dir := t.TempDir()
	out, _, code := ctsync(t, []string{"CTSYNC_STATE_DIR=" + dir}, onboardArgs()...)
	if code != 0 || !strings.Contains(out, "queued onboarding") {
		t.Fatalf("exit %d: %s", code, out)
	}
	list, _, _ := ctsync(t, []string{"CTSYNC_STATE_DIR=" + dir}, "status")
	if !strings.Contains(list, "requested") {
		t.Fatalf("status: %s", list)
	}
}

func TestUnknownCommandAndBadSettingsExitWithUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, &out, &errOut); code != 1 {
		t.Fatalf("exit %d", code)
	}
	env := map[string]string{"CTSYNC_MONITOR_INTERVAL": "soon", "AZURE_CLIENT_ID": "x", "AZURE_CLIENT_SECRET": "y", "CTSYNC_STATE_DIR": t.TempDir()}
	code := run(context.Background(), append(onboardArgs(), "--wait"), func(k string) string { return env[k] }, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "CTSYNC_MONITOR_INTERVAL") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

func TestHarvestOnceThenQueryTheLogs(t *testing.T) {
	env := append(append(startEmulator(t), fast...), "CTSYNC_STATE_DIR="+t.TempDir())
	if out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait")...); code != 0 {
		t.Fatalf("onboard: %d\n%s\n%s", code, out, errOut)
	}
	time.Sleep(time.Second) // let the emulator's job run a cycle or two
	file := filepath.Join(t.TempDir(), "logs.jsonl")
	out, errOut, code := ctsync(t, env, "harvest", "--once", "--out", file)
	if code != 0 || !strings.Contains(errOut, "harvested 1 configuration(s)") {
		t.Fatalf("harvest: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "page(s),") || !strings.Contains(errOut, "records/s") {
		t.Fatalf("harvest showed no progress (pages, records, rate):\n%s", errOut)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) < 3 {
		t.Fatalf("want a record per synchronized user, got %d lines", len(lines))
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["id"] == nil || rec["provisioningStatusInfo"] == nil {
			t.Fatalf("not a provisioning record: %s", l)
		}
	}
	// A second harvest adds nothing to the file.
	if _, errOut, code := ctsync(t, env, "harvest", "--once", "--out", file); code != 0 || !strings.Contains(errOut, " 0 new") {
		t.Fatalf("second harvest: %d %s", code, errOut)
	}
	again, _ := os.ReadFile(file)
	if len(again) != len(raw) {
		t.Fatalf("second harvest changed the file: %d → %d bytes", len(raw), len(again))
	}
	logs, _, code := ctsync(t, env, "logs", "--since", "1h", "--user", "adele")
	if code != 0 || !strings.Contains(logs, "Adele Vance") || !strings.Contains(logs, "success") {
		t.Fatalf("logs: %d\n%s", code, logs)
	}
	if logs, _, code := ctsync(t, env, "logs", "--status", "failure"); code != 0 || !strings.Contains(logs, "no provisioning records match") {
		t.Fatalf("logs --status failure: %d\n%s", code, logs)
	}
	if _, errOut, code := ctsync(t, env, "logs", "--status", "broken"); code != 1 || !strings.Contains(errOut, "--status") {
		t.Fatalf("bad status: %d %s", code, errOut)
	}
}

func TestServeCarriesOutQueuedOnboardingsHarvestsOnATimerAndStopsCleanly(t *testing.T) {
	state := t.TempDir()
	env := append(append(startEmulator(t), fast...), "CTSYNC_STATE_DIR="+state)
	if out, _, code := ctsync(t, env, onboardArgs()...); code != 0 {
		t.Fatalf("queue: %s", out)
	}
	cmd := exec.Command(binary, "serve", "--harvest-interval", "1s")
	cmd.Env = append([]string{"HOME=" + t.TempDir()}, env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, _ := ctsync(t, env, "status", "--json")
		jsonl, _ := os.ReadFile(filepath.Join(state, "provisioning.jsonl"))
		if strings.Contains(out, `"state": "completed"`) && bytes.Count(jsonl, []byte("\n")) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not finish the onboarding and harvest its logs:\n%s\n%s", out, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop after an interrupt")
	}
	if !strings.Contains(logs.String(), `"msg":"ctsync stopped"`) || !strings.Contains(logs.String(), `"msg":"harvest done"`) {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

func TestFunctionsHostSaysWhatIsMissing(t *testing.T) {
	env := []string{"CTSYNC_STATE_DIR=" + t.TempDir()}
	if _, errOut, code := ctsync(t, env, "functions-host"); code != 1 || !strings.Contains(errOut, "FUNCTIONS_CUSTOMHANDLER_PORT") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	env = append(env, "FUNCTIONS_CUSTOMHANDLER_PORT=0", "AZURE_CLIENT_ID=x", "AZURE_CLIENT_SECRET=y")
	if _, errOut, code := ctsync(t, env, "functions-host"); code != 1 || !strings.Contains(errOut, "ServiceBus__fullyQualifiedNamespace") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestLambdaSaysWhatIsMissing(t *testing.T) {
	if _, errOut, code := ctsync(t, nil, "lambda"); code != 1 || !strings.Contains(errOut, "AWS_LAMBDA_RUNTIME_API") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	env := []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"}
	if _, errOut, code := ctsync(t, env, "lambda"); code != 1 || !strings.Contains(errOut, "AWS_REGION") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	env = append(env, "AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y", "AZURE_CLIENT_ID=x", "AZURE_CLIENT_SECRET=y")
	if _, errOut, code := ctsync(t, env, "lambda"); code != 1 || !strings.Contains(errOut, "CTSYNC_S3_BUCKET") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, errOut, code := ctsync(t, append(env, "CTSYNC_STORE=sqlite"), "lambda"); code != 1 || !strings.Contains(errOut, "the cloud hosts share Table Storage") {
		t.Fatalf("a cloud host refuses the local store: exit %d: %s", code, errOut)
	}
}

// Lambda starts the function's executable as bootstrap, without arguments.
func TestStartedAsBootstrapTheBinaryServesLambda(t *testing.T) {
	raw, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(bootstrap, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bootstrap)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "ctsync lambda: AWS_LAMBDA_RUNTIME_API is not set") {
		t.Fatalf("exit %d (%v): %s", code, err, out)
	}
}

func TestProgressIsShownAtMostOncePerIntervalPerConfiguration(t *testing.T) {
	shown := map[string]int{}
	show := everyInterval(time.Hour, func(p harvest.Progress) { shown[p.Config.ServicePrincipalID]++ })
	a := harvest.Progress{Config: store.Configuration{SourceTenantID: "t", ServicePrincipalID: "a"}}
	b := harvest.Progress{Config: store.Configuration{SourceTenantID: "t", ServicePrincipalID: "b"}}
	show(a)
	show(a)
	show(b)
	show(a)
	if shown["a"] != 1 || shown["b"] != 1 {
		t.Fatalf("shown %v: want the first report of each configuration, then silence for the interval", shown)
	}
}

// The Azure Functions host keeps its state in Table Storage: started as the
// Functions host starts it, it answers the readiness probe and a timer
// invocation without ever creating a state directory (no SQLite file).
func TestTheFunctionsHostOpensNoSQLiteFile(t *testing.T) {
	az := emulators.StartAzurite(t)
	port := emulators.FreePort(t)
	state := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(binary, "functions-host")
	cmd.Env = []string{"HOME=" + t.TempDir(), "CTSYNC_STATE_DIR=" + state, fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port),
		// The Service Bus client connects lazily; nothing here sends.
		"CTSYNC_SERVICEBUS_CONNECTION_STRING=Endpoint=sb://127.0.0.1/;SharedAccessKeyName=test;SharedAccessKey=dGVzdA==",
		"CTSYNC_STORE=tables", "CTSYNC_STORAGE_CONNECTION_STRING=" + az.ConnectionString, "CTSYNC_TABLE=fnhost", "CTSYNC_BLOB_CONTAINER=fnhost",
		"AZURE_CLIENT_ID=" + graphsim.DefaultClientID, "AZURE_CLIENT_SECRET=unused"}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the custom handler never answered its readiness probe:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Post(base+"/harvest", "application/json", strings.NewReader(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "harvested 0 configuration(s)") {
		t.Fatalf("timer invocation: %d %s\n%s", resp.StatusCode, body, logs.String())
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("the Functions host created %s: it must keep no state on local disk (%v)", state, err)
	}
}
