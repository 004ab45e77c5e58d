// Command restores is the Lambda function behind API Gateway for the
// /v1/restores routes of the HTTP API (see httpapi.RestoreRoutes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/httpapi"
)

func main() {
	fn := boot.Start("restores")
	api := httpapi.New(httpapi.Config{Pool: fn.Pool, Logger: fn.Log, Metrics: fn.Metrics, Hooks: httpapi.Hooks{AfterAlert: fn.Relay().AfterAlert}}.WithSettings(fn.Config))
	lambda.Start(apigw.Handler(api.Handler(httpapi.RestoreRoutes)))
}
