// Command migrate is the Lambda function that applies the embedded schema
// migrations, invoked once per deploy (`make migrate-remote`). It connects
// as the schema owner: MIGRATE_DATABASE_URL, or the RDS secret named by
// DB_SECRET_ARN. Running it again applies nothing.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/backupwatch/backupwatch/shared/logging"
	"github.com/backupwatch/backupwatch/shared/migratefn"
)

func main() {
	logging.Setup(os.Stdout, os.Getenv("LOG_LEVEL"), "function", "migrate")
	lambda.Start(migratefn.Handler)
}
