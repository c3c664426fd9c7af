package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports a run's advance: a bar on a terminal, lines a parent
// process reads in a child of an -isa run (see isa.go), nothing otherwise.
type progress interface {
	describe(it item)
	add()
	finish()
}

// progressLine is what a child writes on stderr for each unit done.
const progressLine = "\x1esbbench-progress"

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress returns the progress reporter for this process: total units.
func newProgress(cfg *config, errOut io.Writer, total int) progress {
	switch {
	case cfg.child:
		return lineProgress{errOut}
	case cfg.progress:
		return newBar(errOut, total, "")
	}
	return noProgress{}
}

type noProgress struct{}

func (noProgress) describe(item) {}
func (noProgress) add()          {}
func (noProgress) finish()       {}

type lineProgress struct{ w io.Writer }

func (p lineProgress) describe(item) {}
func (p lineProgress) add()          { fmt.Fprintln(p.w, progressLine) }
func (p lineProgress) finish()       {}

type bar struct {
	b      *progressbar.ProgressBar
	prefix string
}

func newBar(w io.Writer, total int, prefix string) *bar {
	return &bar{prefix: prefix, b: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription("sbbench "+prefix))}
}

func (p *bar) describe(it item) {
	d := it.table + " " + it.name
	for _, s := range []string{it.layer, it.variant} {
		if s != "" {
			d += " " + s
		}
	}
	p.b.Describe(fmt.Sprintf("%-44s", "sbbench "+p.prefix+d))
}
func (p *bar) add()    { p.b.Add(1) }
func (p *bar) finish() { p.b.Finish() }
