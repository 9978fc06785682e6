package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/onboarding"
)

func runDLQ(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("dlq")
	all := fs.Bool("all", false, "with replay or discard: every dead letter")
	out := outputFlag(fs)
	rest, err := env.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("%w: say list, replay or discard", errUsage)
	}
	action := rest[0]
	switch action {
	case "list":
		if len(rest) > 1 || *all {
			return fmt.Errorf("%w: list takes no sequence numbers and no --all", errUsage)
		}
	case "replay", "discard":
		if *out == outputJSON {
			return fmt.Errorf("%w: --output json is for list", errUsage)
		}
		if *all == (len(rest) > 1) {
			return fmt.Errorf("%w: name the sequence numbers to %s, or --all (not both)", errUsage, action)
		}
	default:
		return fmt.Errorf("%w: unknown dlq action %q: say list, replay or discard", errUsage, action)
	}
	var seqs []int64
	for _, a := range rest[1:] {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("%w: %q is not a sequence number (see `ctsync dlq list`)", errUsage, a)
		}
		seqs = append(seqs, n)
	}

	// Where no state exists there is nothing to list, replay or discard;
	// looking must not create it.
	st, err := app.OpenState(env.stateDir(), localdb.Options{ExistingOnly: true})
	if errors.Is(err, localdb.ErrNoState) {
		switch {
		case action == "list" && *out == outputJSON:
			return writeJSON(env.stdout, dlqListJSON{DeadLetters: []deadLetterJSON{}})
		case action == "list", *all:
			fmt.Fprintln(env.stdout, "no dead letters")
			return nil
		}
		return fmt.Errorf("no dead letters in %s", env.stateDir())
	}
	if err != nil {
		return err
	}
	defer st.Close()
	dls, err := st.Bus.DeadLetters(ctx)
	if err != nil {
		return err
	}
	if action == "list" {
		return listDeadLetters(env, dls, *out)
	}
	bySeq := map[int64]bus.DeadLetter{}
	for _, dl := range dls {
		bySeq[dl.Seq] = dl
	}
	if *all {
		for _, dl := range dls {
			seqs = append(seqs, dl.Seq)
		}
		if len(seqs) == 0 {
			fmt.Fprintln(env.stdout, "no dead letters")
			return nil
		}
	}
	// Every named one must exist before any is touched.
	for _, seq := range seqs {
		if _, ok := bySeq[seq]; !ok {
			return fmt.Errorf("no dead letter with sequence number %d (see `ctsync dlq list`); nothing was %s", seq, pastTense(action))
		}
	}
	var done []string
	for _, seq := range seqs {
		dl := bySeq[seq]
		if action == "replay" {
			err = onboarding.Replay(ctx, st.Bus, st.Store, dl)
		} else {
			err = st.Bus.Discard(ctx, seq)
		}
		if err != nil {
			// Say exactly what already happened, so a retry names only the rest.
			if len(done) > 0 {
				fmt.Fprintf(env.stdout, "%s %d of %d before the failure: %s\n", pastTense(action), len(done), len(seqs), strings.Join(done, " "))
			}
			return fmt.Errorf("%s dead letter %d: %w", action, seq, err)
		}
		done = append(done, strconv.FormatInt(seq, 10))
	}
	switch action {
	case "replay":
		fmt.Fprintf(env.stdout, "sent %d message(s) back to their queues (%s); `ctsync serve` or the next `onboard --wait` handles them\n",
			len(done), strings.Join(done, " "))
	default:
		fmt.Fprintf(env.stdout, "discarded %d dead letter(s) (%s)\n", len(done), strings.Join(done, " "))
	}
	return nil
}

func listDeadLetters(env *environment, dls []bus.DeadLetter, out outputFormat) error {
	if out == outputJSON {
		res := dlqListJSON{DeadLetters: make([]deadLetterJSON, 0, len(dls))}
		for _, dl := range dls {
			res.DeadLetters = append(res.DeadLetters, deadLetterOut(dl))
		}
		return writeJSON(env.stdout, res)
	}
	if len(dls) == 0 {
		fmt.Fprintln(env.stdout, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tQUEUE\tEVENT\tDELIVERIES\tREASON\tDESCRIPTION")
	for _, dl := range dls {
		typ := "(unparseable)"
		if ev, err := events.Parse(dl.Body); err == nil {
			typ = string(ev.Type)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", dl.Seq, dl.Queue, typ, dl.DeliveryCount, dl.Reason, events.Text(dl.Description, 300))
	}
	return tw.Flush()
}

func pastTense(action string) string {
	if action == "replay" {
		return "replayed"
	}
	return "discarded"
}
