// Command admin is the Lambda function behind API Gateway for the
// administrative routes of the HTTP API: health, tenants, users, API keys,
// policies, storage targets, checks and status (see httpapi.AdminRoutes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/httpapi"
)

func main() {
	fn := boot.Start("admin")
	checks := check.New(check.Config{Pool: fn.Pool, Logger: fn.Log, Metrics: fn.Metrics, AfterRun: fn.Relay().Run}.WithSettings(fn.Config))
	api := httpapi.New(httpapi.Config{Pool: fn.Pool, Logger: fn.Log, Metrics: fn.Metrics, Checks: checks}.WithSettings(fn.Config))
	lambda.Start(apigw.Handler(api.Handler(httpapi.AdminRoutes)))
}
