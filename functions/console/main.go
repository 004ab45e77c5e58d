// Command console is the Lambda function behind API Gateway for the web
// console (GET /console, ANY /console/{proxy+}; see shared/console).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/apigw"
	"github.com/backupwatch/backupwatch/shared/boot"
	"github.com/backupwatch/backupwatch/shared/console"
)

func main() {
	fn := boot.Start("console")
	c := console.New(console.Config{Pool: fn.Pool, Logger: fn.Log, AfterAlert: fn.Relay().AfterAlert,
		StatementTimeout: fn.Config.StatementTimeout, CursorSecret: fn.Config.CursorSecret})
	lambda.Start(apigw.Handler(c.Handler()))
}
