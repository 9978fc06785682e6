package main

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ctsync/ctsync/pkg/emulators"
)

// A function URL request the API refuses before any store or Graph call
// (the id is not a GUID): the measurement is the bootstrap's own start-up,
// not a round trip to an emulator.
const bootstrapInvocation = `{"version":"2.0","rawPath":"/onboardings/not-a-guid","headers":{},` +
	`"requestContext":{"http":{"method":"GET","path":"/onboardings/not-a-guid","protocol":"HTTP/1.1","sourceIp":"127.0.0.1"}}}`

// bootstrapEnv is the function's configuration; every endpoint is a closed
// loopback port, so nothing at start-up may wait on the network.
func bootstrapEnv(dir string) []string {
	return []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"),
		"AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_ENDPOINT_URL=http://127.0.0.1:9",
		"CTSYNC_QUEUE_PREFIX=bench-", "CTSYNC_STORE=dynamodb", "CTSYNC_DYNAMODB_TABLE=bench", "CTSYNC_S3_BUCKET=bench",
		"AZURE_CLIENT_ID=00000000-0000-4000-8000-000000000001", "AZURE_CLIENT_SECRET=bench", "CTSYNC_LOG_LEVEL=error"}
}

type bootstrapResult struct {
	minimal, rie    time.Duration // medians
	rieErr          error
	zipBytes        int64
	arm64Bytes      int64
	samples, status int
}

// buildBootstrap builds the Lambda bootstrap as `make package-lambda` does
// (stripped, without the Azure SDKs), for goarch.
func buildBootstrap(dir, goarch string) (string, error) {
	// Lambda starts an executable named bootstrap, and ctsync serves
	// invocations when it is started under that name.
	bin := filepath.Join(dir, goarch, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", bin, "./functions")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	return bin, cmd.Run()
}

func measureBootstrap() (bootstrapResult, error) {
	var r bootstrapResult
	dir, err := os.MkdirTemp("", "perfbench-bootstrap")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	arm, err := buildBootstrap(dir, "arm64")
	if err != nil {
		return r, err
	}
	if r.zipBytes, r.arm64Bytes, err = zipSize(arm); err != nil {
		return r, err
	}
	native, err := buildBootstrap(dir, runtimeArch())
	if err != nil {
		return r, err
	}
	const samples = 15
	r.samples = samples
	var minimal []time.Duration
	for range samples {
		d, status, err := startUnderMinimalRuntimeAPI(native, dir)
		if err != nil {
			return r, err
		}
		r.status = status
		minimal = append(minimal, d)
	}
	r.minimal = median(minimal)
	rieBin, err := emulators.RIEBinary()
	if err != nil {
		r.rieErr = err
		return r, nil
	}
	var underRIE []time.Duration
	for range samples {
		d, err := startUnderRIE(rieBin, native, dir)
		if err != nil {
			r.rieErr = err
			return r, nil
		}
		underRIE = append(underRIE, d)
	}
	r.rie = median(underRIE)
	return r, nil
}

func runtimeArch() string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}

// zipSize is the deployment zip's size (bootstrap deflated, as `sam build`
// and `zip` make it) and the binary's.
func zipSize(bin string) (int64, int64, error) {
	raw, err := os.ReadFile(bin)
	if err != nil {
		return 0, 0, err
	}
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, err := z.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		return 0, 0, err
	}
	if _, err := w.Write(raw); err != nil {
		return 0, 0, err
	}
	if err := z.Close(); err != nil {
		return 0, 0, err
	}
	return int64(buf.Len()), int64(len(raw)), nil
}

// startUnderMinimalRuntimeAPI starts the bootstrap against the smallest
// Runtime API that serves one invocation, and returns the time from the
// process's start to the invocation's response.
func startUnderMinimalRuntimeAPI(bin, dir string) (time.Duration, int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	responded := make(chan []byte, 1)
	served := false
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		if served {
			<-r.Context().Done() // one invocation only; the process is killed next
			return
		}
		served = true
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "bench-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:000000000000:function:ctsync")
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		_, _ = io.WriteString(w, bootstrapInvocation)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		responded <- body
	})
	mux.HandleFunc("POST /2018-06-01/runtime/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		responded <- append([]byte("error: "), body...)
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	cmd := exec.Command(bin)
	cmd.Env = append(bootstrapEnv(dir), "AWS_LAMBDA_RUNTIME_API="+l.Addr().String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case body := <-responded:
		elapsed := time.Since(start)
		var status int
		if _, err := fmt.Sscanf(string(body), `{"statusCode":%d`, &status); err != nil {
			return 0, 0, fmt.Errorf("unexpected response %s\n%s", body, stderr.String())
		}
		return elapsed, status, nil
	case <-time.After(30 * time.Second):
		return 0, 0, fmt.Errorf("no response in 30s\n%s", stderr.String())
	}
}

// startUnderRIE starts AWS's Runtime Interface Emulator with the bootstrap
// and times the first invocation, which starts the bootstrap (the RIE
// initializes the function on its first invocation).
func startUnderRIE(rie, bin, dir string) (time.Duration, error) {
	ports := make([]string, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		ports[i] = l.Addr().String()
		l.Close()
	}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", ports[0], "--runtime-api-address", ports[1], "--log-level", "error", bin)
	cmd.Env = bootstrapEnv(dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", ports[0], time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the RIE did not listen: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ports[0]+"/2015-03-31/functions/function/invocations", strings.NewReader(bootstrapInvocation))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"statusCode"`)) {
		return 0, fmt.Errorf("RIE answered %d: %s\n%s", resp.StatusCode, body, stderr.String())
	}
	return elapsed, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
