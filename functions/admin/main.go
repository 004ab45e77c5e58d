// Command admin is the Lambda function behind API Gateway for the
// administrative routes of the HTTP API: health, tenants, users, API keys,
// policies, storage targets, checks, copy verification runs and status (see httpapi.AdminRoutes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/verifier"
)

func main() {
	fn := boot.Start("admin")
	relay := fn.Relay()
	checks := check.New(check.Config{Pool: fn.Pool, Logger: fn.Log, AfterRun: relay.Run})
	copies := verifier.New(verifier.Config{Pool: fn.Pool, Logger: fn.Log, AfterRun: relay.Run,
		MaxUnverified: fn.Config.VerifyMaxUnverified})
	api := httpapi.New(httpapi.Config{Pool: fn.Pool, Logger: fn.Log, Checks: checks, Verifier: copies}.WithSettings(fn.Config))
	lambda.Start(apigw.Handler(api.Handler(httpapi.AdminRoutes)))
}
