// Command hello is the cold-start baseline of the bench: the smallest
// aws-lambda-go function, one handler that answers 200, built with the
// functions' flags and started in the same emulator runs, so that each
// function's init reads as a ratio to the least any Go function costs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})
}
