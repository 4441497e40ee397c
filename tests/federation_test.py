"""flows/federation.py: partitions, endpoints and console URLs (pure functions, no network)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from keyrack_sh.errors import UserError
from keyrack_sh.flows import federation


@pytest.mark.parametrize(("region", "partition"), [
    ("eu-west-1", "aws"), (None, "aws"), ("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"),
    ("us-gov-west-1", "aws-us-gov"), ("us-gov-east-1", "aws-us-gov"),
])
def test_the_partition_follows_the_region(region: str | None, partition: str) -> None:
    assert federation.partition_of(region) == partition


def test_a_partition_without_known_sign_in_hosts_is_one_clear_error() -> None:
    with pytest.raises(UserError, match="not of aws-iso"):
        federation.partition_of("us-iso-east-1")


@pytest.mark.parametrize(("partition", "signin", "console"), [
    ("aws", "https://signin.aws.amazon.com", "https://console.aws.amazon.com/console/home?region=R"),
    ("aws-cn", "https://signin.amazonaws.cn", "https://console.amazonaws.cn/console/home?region=R"),
    ("aws-us-gov", "https://signin.amazonaws-us-gov.com", "https://console.amazonaws-us-gov.com/console/home?region=R"),
])
def test_each_partition_has_its_signin_and_console_hosts(monkeypatch: pytest.MonkeyPatch, partition: str,
                                                         signin: str, console: str) -> None:
    monkeypatch.delenv(federation.SIGNIN_ENV, raising=False)
    assert federation.signin_base(partition) == signin
    assert federation.destination(partition, "R") == console


def test_the_signin_endpoint_override_is_https_or_loopback_http(monkeypatch: pytest.MonkeyPatch) -> None:
    for good in ("http://127.0.0.1:8080", "https://signin.example.com/", "http://localhost:1"):
        monkeypatch.setenv(federation.SIGNIN_ENV, good)
        assert federation.signin_base("aws") == good.rstrip("/")
    for bad in ("http://signin.example.com", "http://127.0.0.1.example.com", "ftp://127.0.0.1", "https://"):
        monkeypatch.setenv(federation.SIGNIN_ENV, bad)
        with pytest.raises(UserError, match="https"):
            federation.signin_base("aws")


def test_a_service_by_name_and_the_region() -> None:
    assert federation.destination("aws", "us-west-2", service="s3") == \
        "https://console.aws.amazon.com/s3/home?region=us-west-2"
    assert federation.destination("aws", None, service="ec2") == "https://console.aws.amazon.com/ec2/home"
    with pytest.raises(UserError, match="--service"):
        federation.destination("aws", None, service="../s3")


def test_any_console_url_of_the_partition_keeps_its_path_fragment_and_own_region() -> None:
    url = "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1&x=1#Instances:"
    assert federation.destination("aws", "eu-west-1", url=url, keep_url_region=True) == url
    moved = urlsplit(federation.destination("aws", "eu-west-1", url=url))
    assert parse_qs(moved.query) == {"region": ["eu-west-1"], "x": ["1"]} and moved.fragment == "Instances:"
    assert federation.destination("aws", "eu-west-1", url="https://console.aws.amazon.com/iam/home",
                                  keep_url_region=True) == "https://console.aws.amazon.com/iam/home?region=eu-west-1"


@pytest.mark.parametrize("url", [
    "http://console.aws.amazon.com/s3/home",  # not https
    "https://console.amazonaws.cn/s3/home",  # another partition's console
    "https://evil.example/console.aws.amazon.com",
    "https://console.aws.amazon.com.evil.example/",
])
def test_a_destination_off_the_partitions_console_is_refused(url: str) -> None:
    with pytest.raises(UserError, match="--destination"):
        federation.destination("aws", None, url=url)


def test_the_login_url_carries_destination_and_token() -> None:
    url = federation.login_url("https://signin.aws.amazon.com", "TOKEN", "https://console.aws.amazon.com/console/home")
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("signin.aws.amazon.com", "/federation")
    assert parse_qs(parts.query) == {"Action": ["login"], "Issuer": ["keyrack"], "SigninToken": ["TOKEN"],
                                     "Destination": ["https://console.aws.amazon.com/console/home"]}
