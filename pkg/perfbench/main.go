// Command perfbench measures ctsync against its performance goals and
// prints one table, every figure beside its reference, as ratios measured in
// one run on this machine (`make bench`): an onboarding's wall time against
// the Graph latency and replication it cannot beat, Graph reads per
// onboarding, serve's memory and descriptors at 10 / 100 / 1,000 tenant
// pairs, 100 pairs at once, fsyncs per step, a hub fanned out to 1,000
// spokes against its write limit, the harvester beside a plain pager, the
// Lambda bootstrap's start-up and its zip. Nothing here asserts:
// the machines are shared and noisy, so the numbers are for people.
//
//	go run ./pkg/perfbench                  # everything
//	BENCH_ONLY=onboarding,harvest go run ./pkg/perfbench
//	BENCH_SIZES=10000,100000 (harvester), BENCH_PAIRS=10,100,1000 (serve)
//	BENCH_SPOKES=100,1000 and BENCH_FANOUT_LIMIT=300 (writes per 5 s) (fanout)
package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "child" {
		if err := child(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	if err := parent(); err != nil {
		fmt.Fprintln(os.Stderr, "perfbench:", err)
		os.Exit(1)
	}
}

func child(mode string) error {
	switch mode {
	case "harvester", "pager":
		return harvestChild(mode)
	case "fsync-onboard":
		return fsyncChild()
	}
	return fmt.Errorf("unknown child mode %q", mode)
}

// self is this program, for child processes.
func self() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

func want(section string) bool {
	only := os.Getenv("BENCH_ONLY")
	return only == "" || strings.Contains(","+only+",", ","+section+",")
}

// sizeFromEnv reads one count, or returns def.
func sizeFromEnv(name string, def int) int {
	return sizesFromEnv(name, []int{def})[0]
}

// sizesFromEnv reads a comma-separated list of counts, or returns def.
func sizesFromEnv(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// row is one line of the final table: the figure from before this
// work, the goal, and what this run measured.
type row struct {
	what, before, goal, measured string
	met                          bool
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func printTable(rows []row) {
	fmt.Println()
	fmt.Println("| what | before | goal | this run | met |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.what, r.before, r.goal, r.measured, yes(r.met))
	}
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

func parent() error {
	var rows []row
	// Rows measured so far are printed even when a later section fails.
	defer func() { printTable(rows) }()
	if want("onboarding") {
		for _, latency := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond} {
			r, err := measureOnboarding(latency)
			if err != nil {
				return err
			}
			ratio := r.wall.Seconds() / r.ideal().Seconds()
			fmt.Printf("onboarding at %s: wall %s, ideal %s (%d ok requests), ratio %.2f; reads %d writes %d; rerun reads %d writes %d; steps %d\n",
				latency, r.wall.Round(time.Millisecond), r.ideal(), r.succeeded, ratio, r.reads, r.writes, r.rerunReads, r.rerunWrites, r.steps)
			for _, d := range r.duplicateReads {
				fmt.Println("   ", d)
			}
			before := "2.7× (12.5 s vs 4.65 s)"
			if latency != 50*time.Millisecond {
				before = "—"
			}
			rows = append(rows, row{fmt.Sprintf("one onboarding at %s, 2 s replication: wall ÷ (ok requests × latency + replication)", latency), before, "≤ 1.15×",
				fmt.Sprintf("%.2f× (%s vs %s)", ratio, r.wall.Round(10*time.Millisecond), r.ideal()), ratio <= 1.15})
			if latency == 50*time.Millisecond {
				rows = append(rows, row{"Graph reads per onboarding; object read twice by a step outside replication polls", "19 (job 5×, job list 3×, partners 4×)", "none read twice",
					fmt.Sprintf("%d reads (%d with replication polls), %d read twice", r.stepReads, r.reads, len(r.duplicateReads)), len(r.duplicateReads) == 0},
					row{"re-run of a finished pair: writes; reads vs steps", "—", "0 writes, reads ≤ steps",
						fmt.Sprintf("%d writes, %d reads, %d steps", r.rerunWrites, r.rerunReads, r.steps), r.rerunWrites == 0 && r.rerunReads <= r.steps})
			}
		}
	}
	if want("serve") {
		bin, cleanup, err := buildCtsyncInTemp()
		if err != nil {
			return err
		}
		defer cleanup()
		var runs []serveRun
		for _, n := range sizesFromEnv("BENCH_PAIRS", []int{10, 100, 1000}) {
			r, err := measureServe(bin, n, 0, 200*time.Millisecond)
			if err != nil {
				return err
			}
			fmt.Printf("serve %d pairs: %s, peak RSS %.1f MiB, max fds %d\n", n, r.wall.Round(time.Millisecond), mib(r.peakRSS), r.maxFDs)
			runs = append(runs, r)
		}
		if len(runs) > 1 {
			first, last := runs[0], runs[len(runs)-1]
			var rss, fds []string
			for _, r := range runs {
				rss = append(rss, fmt.Sprintf("%.0f", mib(r.peakRSS)))
				fds = append(fds, fmt.Sprint(r.maxFDs))
			}
			label := fmt.Sprintf("%d → %d pairs", first.pairs, last.pairs)
			rssRatio := float64(last.peakRSS) / float64(first.peakRSS)
			fdRatio := float64(last.maxFDs) / float64(first.maxFDs)
			rows = append(rows,
				row{"`serve` peak RSS, MiB, " + strings.Join(rss, " / ") + " (" + label + ")", "41 / 70 / 342 MiB (8.3×)", "≤ 1.5×", fmt.Sprintf("%.2f×", rssRatio), rssRatio <= 1.5},
				row{"`serve` open fds, " + strings.Join(fds, " / ") + " (" + label + ")", "53 / 413 / 4,013 (76×)", "≤ 1.5×", fmt.Sprintf("%.2f×", fdRatio), fdRatio <= 1.5})
		}
		one, err := measureServe(bin, 1, 50*time.Millisecond, replicationDelay)
		if err != nil {
			return err
		}
		hundred, err := measureServe(bin, 100, 50*time.Millisecond, replicationDelay)
		if err != nil {
			return err
		}
		bound := time.Duration(1.2 * 100 * float64(one.wall) / 32)
		fmt.Printf("1 pair at 50ms: %s; 100 pairs: %s; bound 1.2 × 100 × one ÷ 32 = %s\n", one.wall.Round(time.Millisecond),
			hundred.wall.Round(time.Millisecond), bound.Round(time.Millisecond))
		rows = append(rows, row{"100 distinct pairs at 50 ms, default concurrency 32 (per-tenant cap 8)", "43.8 s with 4 workers",
			fmt.Sprintf("≤ 1.2 × 100 × %s ÷ 32 = %s", one.wall.Round(10*time.Millisecond), bound.Round(100*time.Millisecond)),
			hundred.wall.Round(100 * time.Millisecond).String(), hundred.wall <= bound})
	}
	if want("fsync") {
		r, err := measureFsyncs()
		if err != nil {
			return err
		}
		per := float64(r.fsyncs) / float64(r.stepRuns)
		fmt.Printf("fsyncs %d for %d step runs: %.2f per step (opening the fresh state: %d)\n", r.fsyncs, r.stepRuns, per, r.open)
		rows = append(rows, row{"fsync/fdatasync per onboarding step in `serve` (synchronous=FULL)", "~87 per onboarding", "≤ 2 per step",
			fmt.Sprintf("%.2f (%d for %d step runs; %d more opening a fresh state)", per, r.fsyncs, r.stepRuns, r.open), per <= 2})
	}
	if want("fanout") {
		bin, cleanup, err := buildCtsyncInTemp()
		if err != nil {
			return err
		}
		defer cleanup()
		// The hub's write budget scaled down (Graph's is 3,000 per 2.5
		// minutes) so that a thousand spokes take a few minutes, not an hour,
		// and the limit, not the work, decides the pace.
		limit, window := sizeFromEnv("BENCH_FANOUT_LIMIT", 300), 5*time.Second
		var runs []fanOutRun
		for _, n := range sizesFromEnv("BENCH_SPOKES", []int{100, 1000}) {
			r, err := measureFanOut(bin, n, limit, window)
			if err != nil {
				return err
			}
			fmt.Printf("fan-out to %d spokes under %d writes/%s: %s, %d hub writes (%d answered 429), limit-bound minimum %s, peak RSS %.1f MiB\n",
				n, limit, window, r.wall.Round(time.Millisecond), r.hubWrites, r.throttled, r.limitBoundMin.Round(time.Millisecond), mib(r.peakRSS))
			runs = append(runs, r)
		}
		last := runs[len(runs)-1]
		ratio := last.wall.Seconds() / last.limitBoundMin.Seconds()
		rows = append(rows, row{fmt.Sprintf("fan-out to %d spokes: wall ÷ the hub's limit-bound minimum (%d writes ÷ %d per %s)", last.spokes, last.hubWrites, limit, window),
			"not built", "≤ 1.2×", fmt.Sprintf("%.2f× (%s vs %s; %d answered 429)", ratio, last.wall.Round(time.Second), last.limitBoundMin.Round(time.Second), last.throttled),
			ratio <= 1.2})
		if len(runs) > 1 {
			first := runs[0]
			rssRatio := float64(last.peakRSS) / float64(first.peakRSS)
			rows = append(rows, row{fmt.Sprintf("fan-out peak RSS, %d → %d spokes (%.0f → %.0f MiB)", first.spokes, last.spokes, mib(first.peakRSS), mib(last.peakRSS)),
				"not built", "flat (≤ 1.5×)", fmt.Sprintf("%.2f×", rssRatio), rssRatio <= 1.5})
		}
	}
	if want("harvest") {
		hrows, err := harvestRows(sizesFromEnv("BENCH_SIZES", []int{10_000, 100_000, 1_000_000}))
		if err != nil {
			return err
		}
		for _, r := range hrows {
			ratio := r.harvester.rate() / r.pager.rate()
			fmt.Printf("harvest %d: harvester %.0f rec/s %.1f MiB, pager %.0f rec/s %.1f MiB, ratio %.2f\n", r.records, r.harvester.rate(),
				mib(r.harvester.rssKB), r.pager.rate(), mib(r.pager.rssKB), ratio)
			rows = append(rows, row{fmt.Sprintf("harvester ÷ plain pager, records/s, %d records", r.records), "0.57–0.61", "≥ 0.85",
				fmt.Sprintf("%.2f (%.0f vs %.0f rec/s; peak RSS %.0f vs %.0f MiB)", ratio, r.harvester.rate(), r.pager.rate(), mib(r.harvester.rssKB), mib(r.pager.rssKB)), ratio >= 0.85})
		}
	}
	if want("bootstrap") {
		r, err := measureBootstrap()
		if err != nil {
			return err
		}
		fmt.Printf("bootstrap: minimal runtime API %s (answer %d), RIE %s; zip %.1f MiB (binary %.1f MiB)\n", r.minimal, r.status, r.rie,
			float64(r.zipBytes)/(1<<20), float64(r.arm64Bytes)/(1<<20))
		rows = append(rows, row{fmt.Sprintf("Lambda bootstrap: start → first response, minimal runtime API (median of %d)", r.samples), "21–22 ms", "≤ 15 ms",
			r.minimal.Round(100 * time.Microsecond).String(), r.minimal <= 15*time.Millisecond})
		if r.rieErr != nil {
			rows = append(rows, row{"Lambda bootstrap under the RIE", "~40 ms", "≤ 28 ms", "not measured: " + r.rieErr.Error(), false})
		} else {
			rows = append(rows, row{fmt.Sprintf("Lambda bootstrap: first invocation under AWS's RIE (median of %d)", r.samples), "~40 ms", "≤ 28 ms (30 % better)",
				r.rie.Round(100 * time.Microsecond).String(), r.rie <= 28*time.Millisecond})
		}
		rows = append(rows, row{"Lambda deployment zip (linux/arm64, deflated)", "15.4 MiB", "≤ 16 MiB",
			fmt.Sprintf("%.1f MiB (binary %.1f MiB)", float64(r.zipBytes)/(1<<20), float64(r.arm64Bytes)/(1<<20)), r.zipBytes <= 16<<20})
	}
	return nil
}
