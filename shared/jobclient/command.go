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
// off. Outside, they end the process as usual.
func HoldSignals() (release func()) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		for range sigs {
		}
	}()
	return func() { signal.Stop(sigs); close(sigs) }
}

// childEnv is this process's environment without the job's API key (the
// BACKUPWATCH_API_KEY* variables): a wrapped command has no use for it,
// and it should not end up in its logs or its children.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BACKUPWATCH_API_KEY") {
			env = append(env, kv)
		}
	}
	return env
}

// tailBytes is how much of stderr a failure report carries.
const tailBytes = 4 << 10

// Execute runs args with stdin and stderr passed through, stdout to out
// (nil: io.Stdout passed through), SIGINT, SIGTERM, SIGHUP and SIGQUIT
// forwarded, and the last 4 KiB of stderr kept.
func Execute(args []string, std Stdio, out io.Writer) Exit {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = childEnv()
	tail := &tailBuffer{max: tailBytes}
	cmd.Stdin = std.In
	cmd.Stdout = std.Out
	if out != nil {
		cmd.Stdout = out
	}
	cmd.Stderr = io.MultiWriter(std.Err, tail)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		code := 127
		if !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, os.ErrNotExist) {
			code = 126
		}
		return Exit{Code: code, StartErr: err, Started: started, Stderr: err.Error()}
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
	err := cmd.Wait()
	close(done)
	wg.Wait()
	e := Exit{Started: started, Duration: time.Since(started), Stderr: tail.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = signalName(ws.Signal())
			e.Code = 128 + int(ws.Signal())
		} else {
			e.Code = ee.ExitCode()
		}
	default:
		// The command ran but its output could not be copied (a tee
		// writer failed): a failure of the backup all the same.
		e.Code = 1
		e.Stderr = strings.TrimSpace(e.Stderr + "\n" + err.Error())
	}
	return e
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
