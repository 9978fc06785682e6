package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/ctsync/ctsync/events"
	"github.com/ctsync/ctsync/pkg/app"
	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/localdb"
	"github.com/ctsync/ctsync/pkg/onboarding"
)

func runDLQ(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	all := fs.Bool("all", false, "with replay: every dead letter")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("%w: say list or replay", errUsage)
	}
	if rest[0] != "list" && rest[0] != "replay" {
		return fmt.Errorf("%w: unknown dlq command %q: say list or replay", errUsage, rest[0])
	}
	// Where no state exists there is nothing to list or replay; looking
	// must not create it.
	st, err := app.OpenState(env.stateDir(), localdb.Options{ExistingOnly: true})
	if errors.Is(err, localdb.ErrNoState) {
		if rest[0] == "list" {
			fmt.Fprintln(env.stdout, "no dead letters")
			return nil
		}
		return fmt.Errorf("no dead letters in %s", env.stateDir())
	}
	if err != nil {
		return err
	}
	defer st.Close()
	b := st.Bus

	dls, err := b.DeadLetters(ctx)
	if err != nil {
		return err
	}
	switch rest[0] {
	case "list":
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
	case "replay":
		var seqs []int64
		if *all {
			for _, dl := range dls {
				seqs = append(seqs, dl.Seq)
			}
		}
		for _, a := range rest[1:] {
			n, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: %q is not a sequence number (see `ctsync dlq list`)", errUsage, a)
			}
			seqs = append(seqs, n)
		}
		if len(seqs) == 0 {
			return fmt.Errorf("%w: name the sequence numbers to replay, or --all", errUsage)
		}
		bySeq := map[int64]bus.DeadLetter{}
		for _, dl := range dls {
			bySeq[dl.Seq] = dl
		}
		for _, seq := range seqs {
			dl, ok := bySeq[seq]
			if !ok {
				return fmt.Errorf("no dead letter with sequence number %d (see `ctsync dlq list`)", seq)
			}
			if err := onboarding.Replay(ctx, b, st.Store, dl); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.stdout, "sent %d message(s) back to their queues; `ctsync serve` or the next `onboard --wait` handles them\n", len(seqs))
		return nil
	}
	return fmt.Errorf("%w: unknown dlq action %q", errUsage, rest[0])
}
