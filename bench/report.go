package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Report is one run of the benchmark, written as Markdown.
type Report struct {
	Machine  string
	Started  time.Time
	Took     time.Duration
	Dataset  []string // lines describing the generated history
	Summary  []Row
	Sections []Section
}

// Row is one figure of the summary: the service's value, the baseline's,
// their ratio, the target and whether it is met.
type Row struct {
	Figure, Value, Baseline, Ratio, Target, Met string
}

// Section is a titled table with notes.
type Section struct {
	Title  string
	Intro  string
	Header []string
	Rows   [][]string
	Notes  []string
}

// met says whether a target holds.
func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# backupwatch benchmark\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (bench/cmd/bwbench) on %s; the whole run took %s.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Took.Round(time.Second))
	fmt.Fprintf(&b, "**Machine:** %s\n\n", r.Machine)
	if len(r.Dataset) > 0 {
		b.WriteString("**Data:**\n\n")
		for _, l := range r.Dataset {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Summary\n\nEach figure is the median of several runs; its baseline was measured in the same run.\n\n")
	table(&b, []string{"figure", "service", "baseline", "ratio", "target", "met"}, func(add func(...string)) {
		for _, row := range r.Summary {
			add(row.Figure, row.Value, row.Baseline, row.Ratio, row.Target, row.Met)
		}
	})
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		if s.Intro != "" {
			b.WriteString(s.Intro + "\n\n")
		}
		if len(s.Header) > 0 {
			table(&b, s.Header, func(add func(...string)) {
				for _, row := range s.Rows {
					add(row...)
				}
			})
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		if len(s.Notes) > 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func table(b *strings.Builder, header []string, rows func(add func(...string))) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(header)) + "\n")
	rows(func(cells ...string) {
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	})
	b.WriteString("\n")
}

// Machine describes this computer: CPU model and count, memory, kernel,
// Go and PostgreSQL versions.
func Machine(pgVersion string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB memory", float64(kb)/(1<<20))
		}
	}
	kernel := ""
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		kernel = ", " + strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s × %d%s%s, %s %s/%s, PostgreSQL %s", cpu, runtime.NumCPU(), mem, kernel,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, pgVersion)
}
