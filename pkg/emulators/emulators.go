// Package emulators starts, for tests, the real local emulators of the
// cloud services ctsync uses: Azurite (Azure Table and Blob Storage, from
// npm) and moto in server mode (DynamoDB, S3 and SQS, from PyPI; its
// DynamoDB requests are serialized, because moto does not apply a
// conditional write atomically and DynamoDB does — see moto_server.py). Each is
// installed on first use into .cache/emulators in the repository (ignored by
// git; .ci/run starts from a clean clone and gets the same), started once per
// test binary on free loopback ports, and stopped by its PID when the tests
// end (use Main in TestMain).
//
// A machine without Node.js or Python skips the tests that need them, with
// one line saying what to install; under CI=true they must run, and a
// missing tool fails instead.
package emulators

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Pinned versions: the ones the project's tests were written against.
const (
	AzuriteVersion = "3.37.0"
	MotoVersion    = "5.2.5"
)

// Main runs the tests and stops every emulator they started.
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	for _, p := range running {
		p.stop()
	}
	return code
}

var (
	mu      sync.Mutex
	running []*process
)

type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{} // closed when the process has been waited for
}

// stop ends the emulator by its PID.
func (p *process) stop() {
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// Root is the repository's root directory.
func Root() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..")
}

func cacheDir() string { return filepath.Join(Root(), ".cache", "emulators") }

// unavailable skips the test, or fails it under CI, saying what to install.
func unavailable(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run this test, but %s", what)
	}
	t.Skipf("skipped: %s", what)
}

// install runs fn (an installation into the cache) once across every test
// process of this machine, under a file lock.
func install(marker string, fn func() error) error {
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := os.MkdirAll(cacheDir(), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(cacheDir(), ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(marker); err == nil {
		return nil // another process installed it while this one waited
	}
	if err := fn(); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs cmd, logging to a file in the cache, and waits until ready
// reports true.
func start(t testing.TB, name string, cmd *exec.Cmd, ready func() bool) *process {
	t.Helper()
	logPath := filepath.Join(cacheDir(), fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	mu.Lock()
	running = append(running, p)
	mu.Unlock()
	exited := p.exited
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited before it was ready:\n%s", name, out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("%s was not ready within a minute:\n%s", name, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// answers reports whether url answers HTTP at all.
func answers(url string) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
}

// Azurite is a running Azurite serving Table and Blob Storage.
type Azurite struct {
	TableEndpoint, BlobEndpoint string
	// ConnectionString is the development account's, for both services.
	ConnectionString string
}

// The development storage account every Azurite accepts (documented by
// Microsoft; not a secret).
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

var (
	azuriteOnce sync.Once
	azurite     *Azurite
	azuriteErr  string
)

// StartAzurite returns the test binary's Azurite, installing and starting
// it on first use.
func StartAzurite(t testing.TB) *Azurite {
	t.Helper()
	azuriteOnce.Do(func() {
		if _, err := exec.LookPath("node"); err != nil {
			azuriteErr = "Azurite needs Node.js 20 and npm (https://nodejs.org); install them to run the Azure Storage tests"
			return
		}
		dir := filepath.Join(cacheDir(), "azurite-"+AzuriteVersion)
		main := filepath.Join(dir, "node_modules", "azurite", "dist", "src", "azurite.js")
		err := install(filepath.Join(dir, ".installed"), func() error {
			out, err := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel", "error", "azurite@"+AzuriteVersion).CombinedOutput()
			if err != nil {
				return fmt.Errorf("npm install azurite@%s: %v\n%s", AzuriteVersion, err, out)
			}
			return nil
		})
		if err != nil {
			azuriteErr = fmt.Sprintf("Azurite could not be installed (%v)", err)
			return
		}
		table, blob, queue := FreePort(t), FreePort(t), FreePort(t)
		cmd := exec.Command("node", main, "--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(table),
			"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(blob), "--queueHost", "127.0.0.1", "--queuePort", fmt.Sprint(queue),
			"--disableTelemetry", "--silent", "--skipApiVersionCheck", "--inMemoryPersistence")
		a := &Azurite{TableEndpoint: fmt.Sprintf("http://127.0.0.1:%d/%s", table, devAccount), BlobEndpoint: fmt.Sprintf("http://127.0.0.1:%d/%s", blob, devAccount)}
		a.ConnectionString = fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;TableEndpoint=%s;",
			devAccount, devKey, a.BlobEndpoint, a.TableEndpoint)
		start(t, "azurite", cmd, func() bool { return answers(a.TableEndpoint)() && answers(a.BlobEndpoint)() })
		azurite = a
	})
	if azurite == nil {
		unavailable(t, azuriteErr)
	}
	return azurite
}

// Moto is a running moto server.
type Moto struct {
	// Endpoint is its URL, for AWS_ENDPOINT_URL.
	Endpoint string
	Region   string
}

// Env is the environment that points the AWS SDK at moto.
func (m *Moto) Env() []string {
	return []string{"AWS_ENDPOINT_URL=" + m.Endpoint, "AWS_REGION=" + m.Region, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"}
}

// Apply sets Env in this process (for the SDK's default configuration).
func (m *Moto) Apply(t testing.TB) {
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

var (
	motoOnce sync.Once
	moto     *Moto
	motoErr  string
)

// StartMoto returns the test binary's moto server, installing and starting
// it on first use.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	motoOnce.Do(func() {
		python, err := exec.LookPath("python3")
		if err != nil {
			motoErr = "moto needs Python 3 with pip (https://www.python.org); install them to run the AWS tests"
			return
		}
		dir := filepath.Join(cacheDir(), "moto-"+MotoVersion)
		err = install(filepath.Join(dir, ".installed"), func() error {
			out, err := exec.Command(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", dir,
				"moto[server]=="+MotoVersion).CombinedOutput()
			if err != nil {
				return fmt.Errorf("pip install moto[server]==%s: %v\n%s", MotoVersion, err, out)
			}
			return nil
		})
		if err != nil {
			motoErr = fmt.Sprintf("moto could not be installed (%v)", err)
			return
		}
		port := FreePort(t)
		// moto_server.py (beside this file) serializes DynamoDB requests:
		// real DynamoDB applies a conditional write atomically, moto's
		// threaded server does not.
		_, here, _, _ := runtime.Caller(0)
		cmd := exec.Command(python, filepath.Join(filepath.Dir(here), "moto_server.py"), "127.0.0.1", fmt.Sprint(port))
		cmd.Env = append(os.Environ(), "PYTHONPATH="+dir)
		m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Region: "eu-west-1"}
		start(t, "moto", cmd, answers(m.Endpoint+"/moto-api/"))
		moto = m
	})
	if moto == nil {
		unavailable(t, motoErr)
	}
	return moto
}

// RIEVersion is the AWS Lambda Runtime Interface Emulator's module version
// (its tags are not semver; the proxy serves this pseudo-version).
const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// RIE is a running Lambda Runtime Interface Emulator with one function.
type RIE struct {
	// InvokeURL is where an invocation is POSTed.
	InvokeURL string
}

var (
	rieOnce sync.Once
	rieBin  string
	rieErr  string
)

// RIEBinary is the path of the Runtime Interface Emulator, built from the Go
// module proxy into the cache on first use.
func RIEBinary() (string, error) {
	rieOnce.Do(func() {
		dir := filepath.Join(cacheDir(), "rie-"+RIEVersion)
		bin := filepath.Join(dir, "aws-lambda-rie")
		err := install(filepath.Join(dir, ".installed"), func() error {
			cmd := exec.Command("go", "install", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@"+RIEVersion)
			cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go install aws-lambda-rie@%s: %v\n%s", RIEVersion, err, out)
			}
			return nil
		})
		if err != nil {
			rieErr = fmt.Sprintf("the Lambda Runtime Interface Emulator could not be built (%v)", err)
			return
		}
		rieBin = bin
	})
	if rieBin == "" {
		return "", errors.New(rieErr)
	}
	return rieBin, nil
}

// StartRIE runs bootstrap as a Lambda function under AWS's Runtime
// Interface Emulator (built from the Go module proxy into the cache on first
// use), both on free loopback ports, with env as the function's environment.
// Like one Lambda instance, it handles one invocation at a time.
func StartRIE(t testing.TB, bootstrap string, env []string) *RIE {
	t.Helper()
	bin, err := RIEBinary()
	if err != nil {
		unavailable(t, err.Error())
	}
	emulator, runtimeAPI := FreePort(t), FreePort(t)
	cmd := exec.Command(bin, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", emulator),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", runtimeAPI), "--log-level", "warn", bootstrap)
	cmd.Env = env
	addr := fmt.Sprintf("127.0.0.1:%d", emulator)
	// Any request to the invocation path invokes the function, so readiness
	// is a connection, not a request.
	p := start(t, "rie", cmd, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	t.Cleanup(p.stop)
	return &RIE{InvokeURL: "http://" + addr + "/2015-03-31/functions/function/invocations"}
}

// CfnLintVersion is the CloudFormation linter (PyPI cfn-lint, which knows
// SAM; the npm package of that name is another, outdated tool).
const CfnLintVersion = "1.58.0"

var (
	cfnLintOnce sync.Once
	cfnLintDir  string
	cfnLintErr  string
)

// CfnLint runs cfn-lint (installed into the cache on first use) with args
// and returns its output and exit code.
func CfnLint(t testing.TB, args ...string) (string, int) {
	t.Helper()
	cfnLintOnce.Do(func() {
		python, err := exec.LookPath("python3")
		if err != nil {
			cfnLintErr = "cfn-lint needs Python 3 with pip (https://www.python.org); install them to lint the SAM template"
			return
		}
		dir := filepath.Join(cacheDir(), "cfn-lint-"+CfnLintVersion)
		err = install(filepath.Join(dir, ".installed"), func() error {
			out, err := exec.Command(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", dir,
				"cfn-lint=="+CfnLintVersion).CombinedOutput()
			if err != nil {
				return fmt.Errorf("pip install cfn-lint==%s: %v\n%s", CfnLintVersion, err, out)
			}
			return nil
		})
		if err != nil {
			cfnLintErr = fmt.Sprintf("cfn-lint could not be installed (%v)", err)
			return
		}
		cfnLintDir = dir
	})
	if cfnLintDir == "" {
		unavailable(t, cfnLintErr)
	}
	cmd := exec.Command("python3", append([]string{filepath.Join(cfnLintDir, "bin", "cfn-lint")}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+cfnLintDir)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		}
	}
	return string(out), code
}
