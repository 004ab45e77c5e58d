// Command verify is the copy verifier's Lambda function: on its
// EventBridge schedule (VerifySchedule, hourly) it re-reads the stored
// copies at R2 and B2 within VERIFY_BYTES_PER_RUN, lists each bucket once
// a day, then relays the notifications it raised; behind API Gateway it
// serves POST /v1/verifications/run, a small run on demand
// (shared/verifier, httpapi.VerifyRoutes). It alone reads the buckets'
// keys and links the S3 client.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/objstore"
	"github.com/backupwatch/backupwatch/shared/verifier"
)

func main() {
	fn := boot.Start("verify")
	relay := fn.Relay()
	v := verifier.New(verifier.Config{Pool: fn.Pool, Logger: fn.Log, Metrics: fn.Metrics, AfterRun: relay.Run, Open: objstore.OpenReader,
		BytesPerRun: fn.Config.VerifyBytesPerRun, MaxUnverified: fn.Config.VerifyMaxUnverified})
	api := apigw.Handler(httpapi.New(httpapi.Config{Pool: fn.Pool, Logger: fn.Log, Metrics: fn.Metrics, Verifier: v,
		Hooks: httpapi.Hooks{AfterAlert: relay.AfterAlert}}.WithSettings(fn.Config)).Handler(httpapi.VerifyRoutes))
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			RouteKey string `json:"routeKey"`
			Source   string `json:"source"`
			ID       string `json:"id"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, err
		}
		switch {
		case probe.RouteKey != "": // API Gateway, payload 2.0
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			return api(ctx, ev)
		case probe.Source == "aws.events": // the schedule
			return nil, v.OnSchedule(ctx, probe.ID)
		}
		return nil, errors.New("verify: an event neither from API Gateway nor from EventBridge")
	})
}
