// Command healthcheck is the Lambda function behind the EventBridge schedule
// (CheckRate, every 5 minutes): it runs the checks, then relays the
// notifications they raised (shared/check).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/check"
)

func main() {
	fn := boot.Start("healthcheck")
	runner := check.New(check.Config{Pool: fn.Pool, Logger: fn.Log, Metrics: fn.Metrics, AfterRun: fn.Relay().Run}.WithSettings(fn.Config))
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) error {
		return runner.OnSchedule(ctx, ev.ID)
	})
}
