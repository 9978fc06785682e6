package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ctsync/ctsync/pkg/emulators"
	"github.com/ctsync/ctsync/pkg/graphsim"
)

// Every command answers --help with its usage, what it does and every flag
// it parses, with the default; the answer goes to stdout and exits 0.
func TestEveryCommandsHelpListsEveryFlagWithItsDefault(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := &environment{getenv: func(string) string { return "" }, stdout: &out, stderr: &errOut, cmd: c}
			if err := c.run(context.Background(), env, []string{"--help"}); !errors.Is(err, errHelpShown) {
				t.Fatalf("--help answered %v\n%s", err, errOut.String())
			}
			if env.flags == nil {
				t.Fatal("the command parsed no flag set")
			}
			help := out.String()
			if !strings.HasPrefix(help, "Usage: ctsync "+c.name) || !strings.Contains(help, c.help) {
				t.Fatalf("help lacks the usage line or the description:\n%s", help)
			}
			env.flags.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(help, "  --"+f.Name) {
					t.Errorf("--%s is not listed", f.Name)
				}
				if f.Usage == "" {
					t.Errorf("--%s has no description", f.Name)
				}
				if d := f.DefValue; d != "" && d != "false" && d != "0" && !strings.Contains(help, "(default "+d+")") {
					t.Errorf("--%s's default %q is not shown", f.Name, d)
				}
			})
		})
	}
	// Through the binary, as a shell sees it.
	for _, args := range [][]string{{"onboard", "--help"}, {"help", "status"}, {"dlq", "-h"}, {"--help"}} {
		out, errOut, code := ctsync(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") && !strings.Contains(out, "ctsync onboard") || errOut != "" {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

// Terraform's convention: 0 success, 1 any error, usage mistakes included;
// 2 is kept for plan's "changes pending".
func TestExitCodes(t *testing.T) {
	dir := "CTSYNC_STATE_DIR=" + t.TempDir()
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		says string
	}{
		{nil, []string{"--version"}, 0, "ctsync "},
		{nil, []string{"version"}, 0, "revision"},
		{[]string{dir}, []string{"status"}, 0, "no onboardings"},
		{nil, []string{"frobnicate"}, 1, `unknown command "frobnicate"`},
		{nil, []string{"status", "--bogus"}, 1, "unknown flag --bogus"},
		{[]string{dir}, append(onboardArgs(), "--wait"), 1, "AZURE_CLIENT_ID"},
		{[]string{dir, "CTSYNC_LOG_LEVEL=chatty"}, []string{"status"}, 1, `CTSYNC_LOG_LEVEL="chatty"`},
		{[]string{dir}, []string{"dlq", "replay", "7"}, 1, "no dead letters"},
	} {
		out, errOut, code := ctsync(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.says) {
			t.Errorf("ctsync %v: exit %d (want %d)\n%s%s", tc.args, code, tc.code, out, errOut)
		}
	}
}

// Nonsense is refused with the flag named, before anything happens.
func TestNonsenseIsRefusedNamingTheFlag(t *testing.T) {
	dir := "CTSYNC_STATE_DIR=" + filepath.Join(t.TempDir(), "untouched")
	for _, tc := range []struct {
		args []string
		says string
	}{
		{append(onboardArgs(), "--wait", "--timeout", "-5m"), "--timeout"},
		{append(onboardArgs(), "--timeout", "5m"), "--timeout only applies with --wait"},
		{append(onboardArgs(), "stray"), `unexpected argument "stray"`},
		{[]string{"logs", "--since", "-5h"}, "--since"},
		{[]string{"logs", "--since", "2999-01-01T00:00:00Z"}, "in the future"},
		{[]string{"logs", "--limit", "0"}, "--limit"},
		{[]string{"logs", "--limit", "-1"}, "--limit"},
		{[]string{"logs", "--config", "not-a-guid"}, "--config"},
		{[]string{"logs", "--raw", "--output", "json"}, "choose one"},
		{[]string{"logs", "extra"}, `unexpected argument "extra"`},
		{[]string{"status", "--limit", "0"}, "--limit"},
		{[]string{"status", "a", "b"}, `unexpected argument "b"`},
		{[]string{"status", "--output", "yaml"}, "must be text or json"},
		{[]string{"serve", "--harvest-interval", "-1m"}, "--harvest-interval"},
		{[]string{"dlq"}, "say list, replay or discard"},
		{[]string{"dlq", "list", "3"}, "list takes no sequence numbers"},
		{[]string{"dlq", "replay"}, "name the sequence numbers"},
		{[]string{"dlq", "replay", "--all", "3"}, "not both"},
		{[]string{"dlq", "discard", "x"}, "not a sequence number"},
		{[]string{"dlq", "purge"}, `unknown dlq action "purge"`},
		{[]string{"emulator", "--pairs", "-2"}, "--pairs"},
		{[]string{"emulator", "--fault", "path=/x,status=200"}, "400-599"},
		{[]string{"emulator", "--fault", "colour=red"}, `unknown fault key "colour"`},
		{[]string{"demo", "now"}, `unexpected argument "now"`},
		{[]string{"version", "--short"}, "unknown flag --short"},
	} {
		out, errOut, code := ctsync(t, []string{dir}, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.says) {
			t.Errorf("ctsync %v: exit %d, want 1 saying %q\n%s%s", tc.args, code, tc.says, out, errOut)
		}
	}
	if _, err := os.Stat(strings.TrimPrefix(dir, "CTSYNC_STATE_DIR=")); !os.IsNotExist(err) {
		t.Errorf("a refused command created state (%v)", err)
	}
}

// outputSchema compiles one definition of functions/output.schema.json.
func outputSchema(t *testing.T, def string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("output.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("output.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("output.schema.json#/$defs/" + def)
	if err != nil {
		t.Fatalf("%s: %v", def, err)
	}
	return s
}

// conforms checks that stdout is exactly one JSON document valid against
// the named definition, and returns it decoded.
func conforms(t *testing.T, def, stdout string) map[string]any {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(stdout))
	if err != nil {
		t.Fatalf("%s: stdout is not one JSON document: %v\n%s", def, err, stdout)
	}
	if err := outputSchema(t, def).Validate(inst); err != nil {
		t.Fatalf("%s: %v\n%s", def, err, stdout)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(stdout), &m)
	return m
}

var goFieldName = regexp.MustCompile(`"[A-Z][A-Za-z]*":`)

// `--output json` of onboard, status, dlq list, logs and version against
// the documented schema; stdout holds nothing else, and no log line at the
// default level.
func TestJSONOutputFollowsTheDocumentedSchema(t *testing.T) {
	sim, graph := simulator(t, graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond,
		CycleInterval: 300 * time.Millisecond})
	env := append(append(graph, fast...), "CTSYNC_STATE_DIR="+t.TempDir())

	queued, _, code := ctsync(t, env, append(onboardArgs(), "--output", "json")...)
	if code != 0 || conforms(t, "onboard", queued)["queued"] != true {
		t.Fatalf("queued: %d %s", code, queued)
	}
	out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait", "--output", "json")...)
	if code != 0 {
		t.Fatalf("onboard --wait: %d\n%s\n%s", code, out, errOut)
	}
	done := conforms(t, "onboard", out)
	if o, _ := done["onboarding"].(map[string]any); o["state"] != "completed" {
		t.Fatalf("onboard --wait: %s", out)
	}
	if !strings.Contains(errOut, "14/14") || !strings.Contains(errOut, "also carrying out 1 other queued onboarding") {
		t.Errorf("progress (on stderr with --output json) lacks the steps or the note about the other onboarding:\n%s", errOut)
	}
	if strings.Contains(errOut, `"level"`) {
		t.Errorf("log lines at the default level beside the progress:\n%s", errOut)
	}

	list, _, _ := ctsync(t, env, "status", "--output", "json")
	onboardings := conforms(t, "statusList", list)["onboardings"].([]any)
	if len(onboardings) != 2 {
		t.Fatalf("status: %s", list)
	}
	id := done["onboardingId"].(string)
	detail, _, _ := ctsync(t, env, "status", id, "--output", "json")
	conforms(t, "statusDetail", detail)

	time.Sleep(time.Second) // a cycle or two, for records
	if _, errOut, code := ctsync(t, env, "harvest", "--once", "--out", filepath.Join(t.TempDir(), "r.jsonl")); code != 0 {
		t.Fatalf("harvest: %s", errOut)
	}
	logs, _, _ := ctsync(t, env, "logs", "--output", "json")
	if recs := conforms(t, "logs", logs)["records"].([]any); len(recs) == 0 {
		t.Fatalf("logs: %s", logs)
	}

	// A dead letter: an onboarding naming a tenant that does not exist.
	bad := onboardArgs()
	bad[2] = "4d1e0f2a-6b7c-4d8e-9f01-23456789abcd"
	if _, _, code := ctsync(t, env, append(bad, "--wait")...); code != 1 {
		t.Fatal("an unknown tenant must fail")
	}
	dlq, _, _ := ctsync(t, env, "dlq", "list", "--output", "json")
	dls := conforms(t, "dlqList", dlq)["deadLetters"].([]any)
	if len(dls) != 1 || !strings.Contains(dls[0].(map[string]any)["description"].(string), "4d1e0f2a") {
		t.Fatalf("dlq list: %s", dlq)
	}
	version, _, _ := ctsync(t, env, "version", "--output", "json")
	conforms(t, "version", version)

	for _, doc := range []string{queued, out, list, detail, logs, dlq, version} {
		if m := goFieldName.FindString(doc); m != "" {
			t.Errorf("a Go field name leaked into the JSON: %s", m)
		}
	}
	_ = sim
}

// CTSYNC_LOG_LEVEL=debug really logs at debug, on stderr only; stdout keeps
// the human output.
func TestDebugLoggingGoesToStderrOnly(t *testing.T) {
	_, graph := simulator(t, graphsim.Options{AppReplicationDelay: 300 * time.Millisecond, JobReplicationDelay: 200 * time.Millisecond})
	env := append(append(graph, fast...), "CTSYNC_STATE_DIR="+t.TempDir(), "CTSYNC_LOG_LEVEL=debug")
	out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait")...)
	if code != 0 || !strings.Contains(out, "onboarding completed") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, `"level":"DEBUG"`) || !strings.Contains(errOut, `"msg":"step started"`) {
		t.Errorf("no debug lines on stderr:\n%s", errOut)
	}
	if strings.Contains(out, `"level"`) {
		t.Errorf("log lines on stdout:\n%s", out)
	}
}

// Discarding removes a dead letter for good; a replay that fails part-way
// says which ones it already sent back.
func TestDLQDiscardAndAPartialReplay(t *testing.T) {
	_, graph := simulator(t, graphsim.Options{})
	env := append(append(graph, fast...), "CTSYNC_STATE_DIR="+t.TempDir())
	for _, tenant := range []string{"4d1e0f2a-6b7c-4d8e-9f01-23456789abcd", "5e2f1a3b-7c8d-4e9f-8a12-3456789abcde", "6f3a2b4c-8d9e-4fa0-9b23-456789abcdef"} {
		args := onboardArgs()
		args[2] = tenant
		if _, _, code := ctsync(t, env, append(args, "--wait")...); code != 1 {
			t.Fatal("an unknown tenant must fail")
		}
	}
	seqs := func() []string {
		raw, _, _ := ctsync(t, env, "dlq", "list", "--output", "json")
		var res struct{ DeadLetters []struct{ Seq json.Number } }
		if err := json.Unmarshal([]byte(raw), &res); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range res.DeadLetters {
			out = append(out, d.Seq.String())
		}
		return out
	}
	all := seqs()
	if len(all) != 3 {
		t.Fatalf("dead letters: %v", all)
	}
	out, _, code := ctsync(t, env, "dlq", "discard", all[0])
	if code != 0 || !strings.Contains(out, "discarded 1") || len(seqs()) != 2 {
		t.Fatalf("discard: %d %s", code, out)
	}
	// The same one named twice: the first replay succeeds, the second finds
	// it gone. The output says what was already sent back.
	out, errOut, code := ctsync(t, env, "dlq", "replay", all[1], all[1])
	if code != 1 || !strings.Contains(out, "replayed 1 of 2 before the failure: "+all[1]) || !strings.Contains(errOut, "replay dead letter "+all[1]) {
		t.Fatalf("partial replay: %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code := ctsync(t, env, "dlq", "discard", "999"); code != 1 || !strings.Contains(errOut, "nothing was discarded") {
		t.Fatalf("unknown seq: %d %s", code, errOut)
	}
}

// The emulator hands its settings over in a file while it keeps running;
// a fault injected over its HTTP endpoint is rehearsed by a real onboarding,
// and its state dump shows the result.
func TestTheEmulatorRunsInTheBackgroundAndRehearsesAFault(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "emulator.env")
	port := emulators.FreePort(t)
	cmd := exec.Command(binary, "emulator", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--env-file", envFile, "--ca-out", filepath.Join(t.TempDir(), "ca.pem"),
		"--replication-delay", "300ms", "--cycle-interval", "500ms", "--pairs", "2", "--fault", "method=GET,path=/servicePrincipals,status=503,times=1")
	cmd.Env = []string{"HOME=" + t.TempDir()}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(envFile); err == nil && fi.Size() > 0 {
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("the settings file (it holds the client secret) has mode %v", fi.Mode().Perm())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settings file:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	settings := readEnvFile(t, envFile)
	base, caFile := settings["CTSYNC_GRAPH_ENDPOINT"], settings["SSL_CERT_FILE"]
	client := httpsClient(t, caFile)

	resp, err := client.Post(base+"/_emulator/faults", "application/json",
		strings.NewReader(`{"method":"POST","path":"/instantiate","status":429,"retryAfter":"1","times":1}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("inject: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, _ = client.Post(base+"/_emulator/faults", "application/json", strings.NewReader(`{"path":"/x","status":200}`))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad fault was accepted: %d", resp.StatusCode)
	}
	resp.Body.Close()

	var env []string
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	env = append(append(env, fast...), "CTSYNC_STATE_DIR="+t.TempDir())
	out, errOut, code := ctsync(t, env, append(onboardArgs(), "--wait")...)
	if code != 0 || !strings.Contains(out, "retrying") {
		t.Fatalf("the rehearsed 429 did not show as a retry:\n%s\n%s", out, errOut)
	}

	resp, err = client.Get(base + "/_emulator/state")
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Tenants []struct {
			ID                string
			ServicePrincipals []struct{ DisplayName string }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	if err != nil || len(state.Tenants) != 2+4 {
		t.Fatalf("state: %d tenants, %v", len(state.Tenants), err)
	}
	apps := 0
	for _, tn := range state.Tenants {
		apps += len(tn.ServicePrincipals)
	}
	if apps != 1 {
		t.Fatalf("state shows %d configuration apps", apps)
	}

	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Error("the settings file outlived the emulator")
	}
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kv, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out[k] = strings.Trim(v, "'")
	}
	if len(out) != 5 {
		t.Fatalf("settings file: %v", out)
	}
	return out
}

func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
