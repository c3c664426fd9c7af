package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// runChildren runs every -isa set in a child process of its own (the
// microkernel set is chosen once per process, from SBCONV_ISA), one after
// another, each printing its rows as JSON; their progress lines drive
// this process's bar.
func runChildren(cfg *config, items []item, errOut io.Writer) ([]*result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("-isa: cannot re-run this program: %w", err)
	}
	args := []string{
		"-tables", strings.Join(cfg.tables, ","),
		"-batch", strconv.Itoa(cfg.batch), "-threads", strconv.Itoa(cfg.threads),
		"-reps", strconv.Itoa(cfg.reps), "-mintime", cfg.minTime.String(),
		"-peer=" + strconv.FormatBool(cfg.peer),
	}
	if len(cfg.shapes) > 0 {
		args = append(args, "-shapes", strings.Join(cfg.shapes, ","))
	}
	var runs []*result
	for i, isa := range cfg.isas {
		var p progress = noProgress{}
		if cfg.progress {
			p = newBar(errOut, units(cfg, items), fmt.Sprintf("[%s %d/%d] ", isa, i+1, len(cfg.isas)))
		}
		r, err := runChild(exe, args, isa, errOut, p)
		if err != nil {
			return nil, fmt.Errorf("-isa %s: %w", isa, err)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func runChild(exe string, args []string, isa string, errOut io.Writer, p progress) (*result, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "SBCONV_ISA="+isa, childEnv+"=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if sc.Text() == progressLine {
			p.add()
			continue
		}
		fmt.Fprintln(errOut, sc.Text())
	}
	err = cmd.Wait()
	p.finish()
	if err != nil {
		return nil, err
	}
	r := &result{}
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		row := &Row{}
		if err := dec.Decode(row); err != nil {
			return nil, fmt.Errorf("reading the child's rows: %w", err)
		}
		r.rows = append(r.rows, row)
		r.info = row.runInfo
	}
	if len(r.rows) == 0 {
		return nil, fmt.Errorf("the child process printed no rows")
	}
	if r.info.ISA != isa {
		return nil, fmt.Errorf("the child process ran %s", r.info.ISA)
	}
	return r, nil
}
