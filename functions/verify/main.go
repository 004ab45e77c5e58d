// Command verify is the Lambda function behind the copy verifier's
// EventBridge schedule (VerifyRate, hourly): it re-reads the stored copies
// at R2 and B2 within VERIFY_BYTES_PER_RUN, lists each bucket once a day,
// then relays the notifications it raised (shared/verifier).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/verifier"
)

func main() {
	fn := boot.Start("verify")
	v := verifier.New(verifier.Config{Pool: fn.Pool, Logger: fn.Log, AfterRun: fn.Relay().Run,
		BytesPerRun: fn.Config.VerifyBytesPerRun, MaxUnverified: fn.Config.VerifyMaxUnverified})
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) error {
		return v.OnSchedule(ctx, ev.ID)
	})
}
