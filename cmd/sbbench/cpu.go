package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// cpuName names this machine's CPU as the OS reports it (/proc/cpuinfo's
// model name on Linux, sysctl on macOS), with its logical CPU count.
func cpuName() string {
	name := ""
	switch runtime.GOOS {
	case "linux", "android":
		name = procCPUInfo()
	case "darwin":
		if out, err := exec.Command("sysctl", "-n", "machdep.cpu.brand_string").Output(); err == nil {
			name = strings.TrimSpace(string(out))
		}
	}
	if name == "" {
		name = "unknown " + runtime.GOARCH + " CPU"
	}
	return name + " (" + strconv.Itoa(runtime.NumCPU()) + " logical CPUs)"
}

// procCPUInfo returns the first "model name" of /proc/cpuinfo, or on arm64
// kernels that print none, its implementer and part numbers.
func procCPUInfo() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := fields[k]; !seen && v != "" {
			fields[k] = v
		}
	}
	if m := fields["model name"]; m != "" {
		return m
	}
	if imp, part := fields["CPU implementer"], fields["CPU part"]; imp != "" {
		return "arm64 CPU implementer " + imp + " part " + part
	}
	return fields["Hardware"]
}
