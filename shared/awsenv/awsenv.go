// Package awsenv builds the AWS SDK configuration. In a Lambda function
// (built with -tags lambda.norpc) it reads only the environment the Lambda
// runtime sets (region and the role's credentials), which keeps the
// shared-config, SSO and STS machinery out of the binary; elsewhere it is
// the SDK's default chain (profiles, SSO, instance roles).
package awsenv

import "os"

// Endpoint is the endpoint override for a service, from the SDK's own
// variables: AWS_ENDPOINT_URL_<SERVICE> (e.g. AWS_ENDPOINT_URL_SNS), then
// AWS_ENDPOINT_URL. Empty: the service's real endpoint.
func Endpoint(service string) string {
	if v := os.Getenv("AWS_ENDPOINT_URL_" + service); v != "" {
		return v
	}
	return os.Getenv("AWS_ENDPOINT_URL")
}
