package infra_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The notification part of template.yaml, read as YAML nodes so that the
// intrinsic functions (!Ref, !GetAtt) stay visible: goformation resolves or
// drops them, and merges no Globals.

// node is a YAML node with its tag (e.g. "!Ref") kept.
type node struct{ *yaml.Node }

func (n node) get(key string) node {
	if n.Node == nil || n.Kind != yaml.MappingNode {
		return node{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return node{n.Content[i+1]}
		}
	}
	return node{}
}

func (n node) path(keys ...string) node {
	for _, k := range keys {
		n = n.get(k)
	}
	return n
}

// val is the scalar's value, "" when missing.
func (n node) val() string {
	if n.Node == nil {
		return ""
	}
	return n.Value
}

// items are the entries of a sequence, none when missing.
func (n node) items() []*yaml.Node {
	if n.Node == nil {
		return nil
	}
	return n.Content
}

// ref is "!Ref X" → "X", "!GetAtt X.Y" → "X.Y", a plain scalar → itself.
func (n node) ref() string {
	if n.Node == nil {
		return ""
	}
	return strings.TrimPrefix(n.Tag, "!") + " " + n.Value
}

func templateYAML(t *testing.T) node {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return node{doc.Content[0]}
}

var alertTopics = map[string]string{ // env var → topic resource
	"ALERT_TOPIC_EMAIL_ARN":   "AlertEmailTopic",
	"ALERT_TOPIC_SMS_ARN":     "AlertSmsTopic",
	"ALERT_TOPIC_WEBHOOK_ARN": "AlertWebhookTopic",
}

// TestAlertTopicsAndPublishers: three standard topics with their outputs;
// a subscription for each only when its parameter is given; and each
// function that raises alerts (the backups, restores and alerts API
// functions, the healthcheck once it exists, any other that publishes) gets
// the three ARNs and may publish to exactly those three topics.
func TestAlertTopicsAndPublishers(t *testing.T) {
	tpl := templateYAML(t)
	res := tpl.get("Resources")
	for _, topic := range alertTopics {
		if typ := res.path(topic, "Type").val(); typ != "AWS::SNS::Topic" {
			t.Errorf("%s: type %q, want AWS::SNS::Topic", topic, typ)
		}
		if res.path(topic, "Properties", "FifoTopic").val() == "true" {
			t.Errorf("%s must be a standard topic", topic)
		}
		if got := tpl.path("Outputs", topic+"Arn", "Value").ref(); got != "Ref "+topic {
			t.Errorf("output %sArn is %q", topic, got)
		}
	}
	if res.path("AlertSmsTopic", "Properties", "DisplayName").Node != nil {
		t.Error("AlertSmsTopic has a DisplayName: SNS would prefix it to each SMS, past 140 characters")
	}
	for sub, want := range map[string][4]string{
		"AlertEmailSubscription":   {"AlertEmail", "HasAlertEmail", "email", "AlertEmailTopic"},
		"AlertSmsSubscription":     {"AlertPhoneNumber", "HasAlertPhoneNumber", "sms", "AlertSmsTopic"},
		"AlertWebhookSubscription": {"AlertWebhookUrl", "HasAlertWebhookUrl", "https", "AlertWebhookTopic"},
	} {
		param, cond, proto, topic := want[0], want[1], want[2], want[3]
		s := res.get(sub)
		if s.get("Type").val() != "AWS::SNS::Subscription" || s.get("Condition").val() != cond ||
			s.path("Properties", "Protocol").val() != proto || s.path("Properties", "TopicArn").ref() != "Ref "+topic ||
			s.path("Properties", "Endpoint").ref() != "Ref "+param {
			t.Errorf("%s: want a %s subscription of %s to %s under condition %s", sub, proto, param, topic, cond)
		}
		if p := tpl.path("Parameters", param); p.get("Default").Node == nil || p.get("Default").val() != "" {
			t.Errorf("parameter %s must default to empty", param)
		}
		c := tpl.path("Conditions", cond)
		if c.Node == nil || c.Tag != "!Not" || len(c.Content) != 1 || c.Content[0].Tag != "!Equals" || len(c.Content[0].Content) != 2 ||
			c.Content[0].Content[0].Value != param || c.Content[0].Content[1].Value != "" {
			t.Errorf("condition %s must be !Not [!Equals [!Ref %s, \"\"]]", cond, param)
		}
	}
	if res.path("AlertWebhookSubscription", "Properties", "RawMessageDelivery").val() != "true" {
		t.Error("the webhook subscription must use raw message delivery (the endpoint gets the alert JSON)")
	}

	publishers := []string{"BackupsFunction", "RestoresFunction", "AlertsFunction"}
	if res.get("HealthcheckFunction").Node != nil {
		publishers = append(publishers, "HealthcheckFunction")
	}
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, node{res.Content[i+1]}
		if r.get("Type").val() != "AWS::Serverless::Function" {
			continue
		}
		vars := r.path("Properties", "Environment", "Variables")
		var topics []string
		for _, p := range r.path("Properties", "Policies").items() {
			pol := node{p}.get("SNSPublishMessagePolicy")
			if pol.Node != nil {
				topics = append(topics, pol.get("TopicName").ref())
			}
			if raw, _ := yaml.Marshal(p); pol.Node == nil && strings.Contains(strings.ToLower(string(raw)), "sns") {
				t.Errorf("%s: only SNSPublishMessagePolicy may grant SNS, found:\n%s", id, raw)
			}
		}
		slices.Sort(topics)
		// The API functions that raise alerts and the scheduled checks must
		// publish; another function (admin, if it runs the checks on demand)
		// may, but then to all three like the others, or not at all.
		if !slices.Contains(publishers, id) && len(topics) == 0 && vars.get("ALERT_TOPIC_EMAIL_ARN").Node == nil &&
			vars.get("ALERT_TOPIC_SMS_ARN").Node == nil && vars.get("ALERT_TOPIC_WEBHOOK_ARN").Node == nil {
			continue
		}
		for env, topic := range alertTopics {
			if got := vars.get(env).ref(); got != "Ref "+topic {
				t.Errorf("%s: %s is %q, want !Ref %s", id, env, got, topic)
			}
		}
		want := []string{"GetAtt AlertEmailTopic.TopicName", "GetAtt AlertSmsTopic.TopicName", "GetAtt AlertWebhookTopic.TopicName"}
		if !slices.Equal(topics, want) {
			t.Errorf("%s may publish to %v, want exactly %v", id, topics, want)
		}
	}
}
