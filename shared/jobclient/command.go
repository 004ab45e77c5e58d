package jobclient

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Stdio is where a wrapped command's streams go.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// OSStdio is the process's own streams.
func OSStdio() Stdio { return Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }

// Exit is how a wrapped command ended.
type Exit struct {
	Code     int    // the exit status; 128+n after signal n, as shells say
	Signal   string // the signal that killed it, or ""
	Started  time.Time
	Duration time.Duration
	Stderr   string // the last 4 KiB of its stderr
	StartErr error  // it could not be started at all
}

// OK reports whether the command exited 0.
func (e Exit) OK() bool { return e.Code == 0 && e.StartErr == nil }

// Describe says how the command ended, for notes and error_message.
func (e Exit) Describe(name string) string {
	var s string
	switch {
	case e.StartErr != nil:
		s = fmt.Sprintf("%s could not be started: %v", name, e.StartErr)
	case e.Signal != "":
		s = fmt.Sprintf("%s was killed by %s", name, e.Signal)
	default:
		s = fmt.Sprintf("%s exited with status %d", name, e.Code)
	}
	if t := strings.TrimSpace(e.Stderr); t != "" {
		s += ":\n" + t
	}
	return s
}

// HoldSignals keeps SIGINT, SIGTERM, SIGHUP and SIGQUIT from ending this
// process until release: while a wrapped command runs (Execute forwards
// them to it) and its outcome is reported, which a signal must not cut
// off. Outside, they end the process as usual. interrupted is closed at
// the first of them: a report already safe in the spool then stops
// waiting for the API (Reporter.Interrupted).
func HoldSignals() (interrupted <-chan struct{}, release func()) {
	sigs := make(chan os.Signal, 8)
	got := make(chan struct{})
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		once := false
		for range sigs {
			if !once {
				once = true
				close(got)
			}
		}
	}()
	return got, func() { signal.Stop(sigs); close(sigs) }
}

// childEnv is this process's environment without the job's secrets: the
// API key (the BACKUPWATCH_API_KEY* variables) and the storage targets'
// credentials (BACKUPWATCH_S3_*, which can write the backup buckets). A
// wrapped command has no use for them, and they should not end up in its
// logs or its children.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BACKUPWATCH_API_KEY") && !strings.HasPrefix(kv, "BACKUPWATCH_S3_") {
			env = append(env, kv)
		}
	}
	return env
}

// tailBytes is how much of stderr a failure report carries.
const tailBytes = 4 << 10

// drainAfterExit is how long the command's output is still read once it
// has exited: what it wrote before is in the pipe already; a process it
// left behind holding the pipe (a backgrounded helper) is not waited for.
const drainAfterExit = 500 * time.Millisecond

// Execute runs args with stdin and stderr passed through, stdout to out
// (nil: io.Stdout passed through), SIGINT, SIGTERM, SIGHUP and SIGQUIT
// forwarded, and the last 4 KiB of stderr kept. The command ends when it
// exits, not when every process that inherited its stderr has closed it:
// its duration stops there, and stderr is read for drainAfterExit more at
// most. Its stdout, when out takes it (the backup itself, --file -), is
// read to its end whoever holds it: a backup is never cut short. A
// command that cannot be started is said on std.Err.
func Execute(args []string, std Stdio, out io.Writer) Exit {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = childEnv()
	tail := &tailBuffer{max: tailBytes}
	cmd.Stdin = std.In
	stdout := std.Out
	if out != nil {
		stdout = out
	}
	// Pipes of our own (an *os.File is handed to the command as it is), so
	// that Wait returns when the command exits and the copies are ours to
	// bound; exec.Cmd would wait for every holder of its pipes.
	var pipes []*pipeCopy
	var err error
	if cmd.Stdout, err = newPipeCopy(stdout, out == nil, &pipes); err == nil {
		cmd.Stderr, err = newPipeCopy(io.MultiWriter(std.Err, tail), true, &pipes)
	}
	// A stdin that is no file is copied by exec; bound that copy too.
	cmd.WaitDelay = drainAfterExit
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	started := time.Now()
	if err == nil {
		err = cmd.Start()
	}
	for _, p := range pipes {
		p.w.Close() // the command holds its own copy
	}
	if err != nil {
		for _, p := range pipes {
			p.r.Close()
		}
		code := 127
		if !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, os.ErrNotExist) {
			code = 126
		}
		e := Exit{Code: code, StartErr: err, Started: started}
		fmt.Fprintf(std.Err, "backupwatch: %s\n", e.Describe(args[0]))
		return e
	}
	for _, p := range pipes {
		go p.run()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	e := Exit{Started: started, Duration: time.Since(started)}
	close(done)
	wg.Wait()
	var copyErr error
	drained := time.Now().Add(drainAfterExit)
	for _, p := range pipes {
		if perr := p.finish(drained); perr != nil && copyErr == nil {
			copyErr = perr
		}
	}
	e.Stderr = tail.String()
	var ee *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = signalName(ws.Signal())
			e.Code = 128 + int(ws.Signal())
		} else {
			e.Code = ee.ExitCode()
		}
	default:
		copyErr = err
	}
	if copyErr != nil && e.Code == 0 {
		// The command ran but its output could not be copied (a tee
		// writer failed): a failure of the backup all the same.
		e.Code = 1
		e.Stderr = strings.TrimSpace(e.Stderr + "\n" + copyErr.Error())
	}
	return e
}

// pipeCopy copies what a command writes to a pipe into dst.
type pipeCopy struct {
	r, w    *os.File
	dst     io.Writer
	bounded bool // read for drainAfterExit at most once the command exits
	done    chan error
}

// newPipeCopy makes a pipe copied into dst, and returns its write end for
// the command (dst itself when it is a file: nothing to copy). A bounded
// copy ends drainAfterExit after the command at the latest.
func newPipeCopy(dst io.Writer, bounded bool, all *[]*pipeCopy) (io.Writer, error) {
	if dst == nil {
		return nil, nil // the null device, as exec.Cmd gives a nil writer
	}
	if f, ok := dst.(*os.File); ok {
		return f, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &pipeCopy{r: r, w: w, dst: dst, bounded: bounded, done: make(chan error, 1)}
	*all = append(*all, p)
	return w, nil
}

func (p *pipeCopy) run() {
	_, err := io.Copy(p.dst, p.r)
	if p.bounded && errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil // a process left behind still holds the pipe
	}
	// No reader any more: a writer gets EPIPE rather than a full pipe
	// (as exec.Cmd does when its copy fails).
	p.r.Close()
	p.done <- err
}

// finish waits for the copy once the command has exited: to the pipe's
// end, or, bounded, to deadline at the latest.
func (p *pipeCopy) finish(deadline time.Time) error {
	if p.bounded {
		_ = p.r.SetReadDeadline(deadline)
	}
	return <-p.done
}

// signalName is "SIGTERM" for SIGTERM.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return fmt.Sprintf("signal %d (%s)", int(s), s)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// String is the tail as valid UTF-8 without NUL characters, which the
// API's text fields refuse.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	s := strings.ToValidUTF8(string(b), "")
	return strings.ReplaceAll(s, "\x00", "")
}
