// The AWS SDK for Go v2 as Terraform uses it: the default credential chain of
// AWS_PROFILE (credential_process, role chaining through source_profile), then
// STS GetCallerIdentity; prints the ARN, or the error on stderr with exit 1.
//
// This SDK (Debian's 1.17) predates AWS_ENDPOINT_URL_*: the resolver below maps
// STS, SSO and SSO OIDC to those variables so that the test talks to its
// loopback servers only. KEYRACK_TEST_PROCESS_TIMEOUT (Go duration) shortens
// processcreds' 60-second kill.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func endpointFor(service, region string, options ...interface{}) (aws.Endpoint, error) {
	name := "AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(service), " ", "_")
	if url := os.Getenv(name); url != "" {
		return aws.Endpoint{URL: url, SigningRegion: region, HostnameImmutable: true}, nil
	}
	return aws.Endpoint{}, fmt.Errorf("test program: %s is not set; refusing to reach AWS", name)
}

func main() {
	opts := []func(*config.LoadOptions) error{
		config.WithEndpointResolverWithOptions(aws.EndpointResolverWithOptionsFunc(endpointFor)),
	}
	if t := os.Getenv("KEYRACK_TEST_PROCESS_TIMEOUT"); t != "" {
		timeout, err := time.ParseDuration(t)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		opts = append(opts, config.WithProcessCredentialOptions(func(o *processcreds.Options) { o.Timeout = timeout }))
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(aws.ToString(out.Arn))
}
