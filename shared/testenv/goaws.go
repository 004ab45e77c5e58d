package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// SNS in tests: the goaws emulator (github.com/Admiral-Piett/goaws, pinned
// as a tool in go.mod and built here), on a free loopback port, with an HTTP
// subscriber per topic that the test runs on 127.0.0.1.
//
// What goaws v0.4.5 does, read from its source (app/gosns/gosns.go):
//   - Publish delivers to http(s) subscribers synchronously, before it
//     answers, so what a Publish sent has arrived when it returns. A
//     subscriber's failure is only logged; Publish still succeeds.
//   - The body it POSTs is the SNS JSON envelope (Type "Notification",
//     MessageId, TopicArn, Subject, Message, Timestamp, Signature...,
//     MessageAttributes {"name": {"Type": "String", "Value": "..."}}), with
//     the x-amz-sns-message-type/-message-id/-topic-arn/-subscription-arn
//     headers. The MessageId delivered is NOT the one Publish returned (it
//     makes two), unlike SNS.
//   - Raw delivery posts json.Marshal(message): the message as a JSON
//     *string*, without attributes; so subscribers here use the envelope.
//   - Subscribe to an http endpoint answers only after it slept 1 s and
//     POSTed a SubscriptionConfirmation whose SubscribeURL points at goaws
//     (Host and Port of its config); goaws delivers whether or not it was
//     confirmed. Its pending-confirmation map is unlocked, so subscribe one
//     at a time.
//   - Topics and subscriptions live in memory; a topic's ARN is
//     arn:aws:sns:<Region>:<AccountId>:<name>, so a restarted goaws given
//     the same topics has the same ARNs.
//   - It binds 0.0.0.0, has no PublishBatch, and honours filter policies on
//     sqs subscriptions only. Without -config it walks the working directory
//     for a goaws.yaml, so it is always given one.

// Goaws is one goaws process and its subscribers.
type Goaws struct {
	// URL is the SNS endpoint: http://127.0.0.1:PORT.
	URL    string
	Region string

	port    int
	config  string
	topics  []string
	subs    map[string]*Subscriber
	mu      sync.Mutex
	proc    *os.Process
	exited  chan struct{}
	out     bytes.Buffer
	running bool
}

// Goaws's fixed identity: the account of every ARN it makes.
const (
	GoawsRegion  = "us-east-1"
	GoawsAccount = "100010001000"
)

// StartGoaws starts goaws with the named topics, each with one HTTP
// subscriber, and stops both when t ends.
func StartGoaws(t testing.TB, topics ...string) *Goaws {
	t.Helper()
	bin := goawsBinary(t)
	g := &Goaws{Region: GoawsRegion, port: goawsFreePort(t), topics: topics, subs: map[string]*Subscriber{}}
	g.URL = fmt.Sprintf("http://127.0.0.1:%d", g.port)
	g.config = filepath.Join(t.TempDir(), "goaws.yaml")
	conf := fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: "%d"
  Region: %s
  AccountId: "%s"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
  Queues: []
  Topics: []
`, g.port, GoawsRegion, GoawsAccount)
	if err := os.WriteFile(g.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range topics {
		g.subs[name] = newSubscriber(t)
	}
	t.Cleanup(func() {
		g.Stop(t)
		if t.Failed() {
			t.Logf("goaws output:\n%s", g.Output())
		}
	})
	g.start(t, bin)
	return g
}

// ARN is the ARN of topic name.
func (g *Goaws) ARN(name string) string {
	return "arn:aws:sns:" + GoawsRegion + ":" + GoawsAccount + ":" + name
}

// Subscriber returns the HTTP subscriber of topic name.
func (g *Goaws) Subscriber(name string) *Subscriber { return g.subs[name] }

// SNSOptions points an SNS client at this goaws, with test credentials.
func (g *Goaws) SNSOptions(o *sns.Options) {
	o.BaseEndpoint = aws.String(g.URL)
	o.Region = GoawsRegion
	o.Credentials = credentials.NewStaticCredentialsProvider("test", "test", "")
}

// Env is the environment that points the AWS SDK of another process (or of
// config.LoadDefaultConfig) at this goaws.
func (g *Goaws) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_SNS": g.URL, "AWS_REGION": GoawsRegion,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
	}
}

// Stop ends goaws (its topics and subscriptions with it); the subscribers
// keep what they received.
func (g *Goaws) Stop(t testing.TB) {
	t.Helper()
	g.mu.Lock()
	proc, exited, running := g.proc, g.exited, g.running
	g.running = false
	g.mu.Unlock()
	if !running {
		return
	}
	_ = proc.Kill()
	<-exited
}

// Restart starts goaws again on the same port and creates the same topics
// (so the same ARNs) and subscriptions, as after an SNS outage.
func (g *Goaws) Restart(t testing.TB) {
	t.Helper()
	g.start(t, goawsBinary(t))
}

// Output is what goaws logged so far.
func (g *Goaws) Output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

func (g *Goaws) start(t testing.TB, bin string) {
	t.Helper()
	g.mu.Lock()
	if g.running {
		g.mu.Unlock()
		t.Fatal("goaws is already running")
	}
	cmd := exec.Command(bin, "-config", g.config)
	cmd.Dir = filepath.Dir(g.config)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(g.config)}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		g.mu.Unlock()
		t.Fatalf("starting goaws: %v", err)
	}
	exited := make(chan struct{})
	g.proc, g.exited, g.running = cmd.Process, exited, true
	g.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		_ = pw.Close()
		close(exited)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			g.mu.Lock()
			g.out.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
		}
	}()
	g.waitHealthy(t, exited)

	ctx := context.Background()
	client := sns.New(sns.Options{}, g.SNSOptions)
	for _, name := range g.topics {
		out, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
		if err != nil {
			t.Fatalf("goaws: creating topic %s: %v\n%s", name, err, g.Output())
		}
		if *out.TopicArn != g.ARN(name) {
			t.Fatalf("goaws: topic %s has ARN %s, want %s", name, *out.TopicArn, g.ARN(name))
		}
		// One at a time: goaws keeps pending confirmations in an unlocked map.
		if _, err := client.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn: out.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(g.subs[name].URL),
		}); err != nil {
			t.Fatalf("goaws: subscribing to %s: %v\n%s", name, err, g.Output())
		}
	}
}

func (g *Goaws) waitHealthy(t testing.TB, exited <-chan struct{}) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	for range 600 {
		select {
		case <-exited:
			t.Fatalf("goaws exited at start:\n%s", g.Output())
		default:
		}
		resp, err := client.Get(g.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("goaws did not answer on %s:\n%s", g.URL, g.Output())
}

// Subscriber is an HTTP endpoint subscribed to a topic: it confirms its
// subscription and records every notification.
type Subscriber struct {
	URL string

	mu        sync.Mutex
	received  []SNSNotification
	confirmed int
}

// SNSNotification is what SNS POSTs to an HTTP subscriber (the envelope).
type SNSNotification struct {
	Type              string
	MessageID         string
	TopicArn          string
	Subject           string
	Message           string
	Timestamp         string
	SubscribeURL      string
	MessageAttributes map[string]SNSAttribute
	// Header holds the x-amz-sns-* headers of the POST.
	Header http.Header `json:"-"`
}

// SNSAttribute is one message attribute as delivered.
type SNSAttribute struct {
	Type  string
	Value string
}

// Attrs returns the attributes as name → value.
func (n SNSNotification) Attrs() map[string]string {
	out := map[string]string{}
	for k, v := range n.MessageAttributes {
		out[k] = v.Value
	}
	return out
}

func newSubscriber(t testing.TB) *Subscriber {
	s := &Subscriber{}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/sns"
	return s
}

func (s *Subscriber) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var n SNSNotification
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, "not an SNS envelope: "+err.Error(), http.StatusBadRequest)
		return
	}
	n.Header = http.Header{}
	for k, v := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-sns-") {
			n.Header[k] = v
		}
	}
	switch n.Type {
	case "SubscriptionConfirmation":
		// As a real endpoint does: visit SubscribeURL (loopback: goaws's
		// Host is 127.0.0.1 in its config).
		if !strings.HasPrefix(n.SubscribeURL, "http://127.0.0.1:") {
			http.Error(w, "refusing to confirm through "+n.SubscribeURL, http.StatusBadRequest)
			return
		}
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get(n.SubscribeURL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		s.mu.Lock()
		s.confirmed++
		s.mu.Unlock()
	case "Notification":
		s.mu.Lock()
		s.received = append(s.received, n)
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// Received returns the notifications received so far, in order.
func (s *Subscriber) Received() []SNSNotification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SNSNotification(nil), s.received...)
}

// Confirmed is how many subscription confirmations the subscriber answered.
func (s *Subscriber) Confirmed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.confirmed
}

var (
	goawsOnce sync.Mutex
	goawsPath string
)

var goawsVersion = regexp.MustCompile(`(?m)^\s*github\.com/Admiral-Piett/goaws (v\S+)`)

// goawsBinary builds goaws's command from the version pinned in go.mod,
// once per machine and version: under the user cache directory, so test
// binaries after the first reuse it.
func goawsBinary(t testing.TB) string {
	t.Helper()
	goawsOnce.Lock()
	defer goawsOnce.Unlock()
	if goawsPath != "" {
		return goawsPath
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Fatalf("finding go.mod: %v", err)
	}
	mod, err := os.ReadFile(strings.TrimSpace(string(gomod)))
	if err != nil {
		t.Fatal(err)
	}
	m := goawsVersion.FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/Admiral-Piett/goaws (go get -tool github.com/Admiral-Piett/goaws/app/cmd@v0.4.5)")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "backupwatch", "bin")
	path := filepath.Join(dir, fmt.Sprintf("goaws-%s-%s-%s", m[1], runtime.GOOS, runtime.GOARCH))
	if _, err := os.Stat(path); err == nil {
		goawsPath = path
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Build beside the final name and rename: test binaries of several
	// packages may build at once.
	tmp, err := os.MkdirTemp(dir, "goaws-build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(tmp, "goaws"), "github.com/Admiral-Piett/goaws/app/cmd")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building goaws: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "goaws"), path); err != nil {
		t.Fatal(err)
	}
	goawsPath = path
	return path
}

func goawsFreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FunctionEnv is the environment of a function that publishes to these
// topics, as template.yaml sets it, plus the database and the emulator's
// endpoint.
func (g *Goaws) FunctionEnv(databaseURL string) map[string]string {
	env := map[string]string{"DATABASE_URL": databaseURL, "LOG_LEVEL": "info",
		"ALERT_TOPIC_EMAIL_ARN": g.ARN("email"), "ALERT_TOPIC_SMS_ARN": g.ARN("sms"), "ALERT_TOPIC_WEBHOOK_ARN": g.ARN("webhook")}
	for k, v := range g.Env() {
		env[k] = v
	}
	return env
}
