// The AWS SDK for JavaScript v3 as an app uses it: the default credential chain
// of AWS_PROFILE (credential_process through /bin/sh, source_profile chaining,
// native sso_session profiles), then STS GetCallerIdentity. Prints the ARN, or
// the error on stderr with exit 1. This SDK honours AWS_ENDPOINT_URL_*.
"use strict";
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");

new STSClient({})
  .send(new GetCallerIdentityCommand({}))
  .then((out) => console.log(out.Arn))
  .catch((err) => {
    console.error(`${err.name}: ${err.message}`);
    process.exit(1);
  });
