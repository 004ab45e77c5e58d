// Command alerts is the Lambda function behind API Gateway for the
// /v1/alerts routes of the HTTP API (see httpapi.AlertRoutes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/httpapi"
)

func main() {
	fn := boot.Start("alerts")
	api := httpapi.New(httpapi.Config{Pool: fn.Pool, Logger: fn.Log, Metrics: fn.Metrics, Hooks: httpapi.Hooks{AfterAlert: fn.Relay().AfterAlert}}.WithSettings(fn.Config))
	lambda.Start(apigw.Handler(api.Handler(httpapi.AlertRoutes)))
}
