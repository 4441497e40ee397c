"""AWS_DATA_PATH rule sets that point an AWS CLI at the sandbox.

The AWS CLI v2 that Debian 12 ships (2.9.19) predates AWS_ENDPOINT_URL_*; it
does read endpoint rule sets from AWS_DATA_PATH (`<service>/<api version>/
endpoint-rule-set-1.json`, as botocore's loader looks them up). A rule set
whose one rule answers with the sandbox's URL points every request there; the
AWS CLI v1 and boto3 read the same files, harmlessly (same URLs).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

# AWS_ENDPOINT_URL_<key> -> the folder its rule set goes into
RULE_SET_FOLDERS = {"STS": ("sts", "2011-06-15"), "SSO": ("sso", "2019-06-10"),
                    "SSO_OIDC": ("sso-oidc", "2019-06-10")}


def rule_set(url: str) -> dict:
    """An endpoints 2.0 rule set whose one rule sends every request to `url`."""
    return {
        "version": "1.0",
        "parameters": {
            "Region": {"builtIn": "AWS::Region", "required": False, "type": "String"},
            "Endpoint": {"builtIn": "SDK::Endpoint", "required": False, "type": "String"},
        },
        "rules": [{"conditions": [], "type": "endpoint",
                   "endpoint": {"url": url, "properties": {}, "headers": {}}}],
    }


def write_aws_data_path(folder: Path, endpoints: Mapping[str, str]) -> Path:
    """Rule sets under `folder` from the AWS_ENDPOINT_URL_* values in `endpoints`; returns `folder`."""
    for key, (service, version) in RULE_SET_FOLDERS.items():
        target = folder / service / version
        target.mkdir(parents=True, exist_ok=True)
        url = endpoints[f"AWS_ENDPOINT_URL_{key}"]
        (target / "endpoint-rule-set-1.json").write_text(json.dumps(rule_set(url)), encoding="utf-8")
    return folder
