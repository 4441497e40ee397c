"""Start URLs: every form AWS gives its access portals is accepted, the region is read from the
host where AWS puts it, and everything else stays refused in one line (exit 2)."""
from __future__ import annotations

import json
import os

import pytest

from harness import run_keyrack
from keyrack_sh import partitions, portal_url, validate
from keyrack_sh.errors import UserError

AWS_FORMS = {
    # url: (region the host names, partition the host implies)
    "https://d-1234567890.awsapps.com/start": (None, None),
    "https://acme.awsapps.com/start/": (None, None),
    "https://acme.awsapps.com/start#/": (None, None),
    "https://acme.awsapps.com/start/#": (None, None),
    "https://ssoins-7223c4f9117b4c94.portal.us-east-1.app.aws": ("us-east-1", "aws"),
    "https://ssoins-7223c4f9117b4c94.portal.eu-west-1.app.aws/": ("eu-west-1", "aws"),
    "https://ssoins-111111h2222j33pp.eu-west-1.portal.amazonaws.com": ("eu-west-1", "aws"),
    "https://ssoins-111111h2222j33pp.us-gov-west-1.portal.amazonaws.com": ("us-gov-west-1", "aws-us-gov"),
    "https://ssoins-111111h2222j33pp.portal.cn-north-1.app.amazonwebservices.com.cn": ("cn-north-1", "aws-cn"),
    "https://ssoins-111111h2222j33pp.cn-northwest-1.portal.amazonaws.com.cn": ("cn-northwest-1", "aws-cn"),
    "https://d-9067c0ffee.awsapps.cn/start": (None, "aws-cn"),
    "https://start.home.awsapps.cn/directory/d-9067c0ffee": (None, "aws-cn"),
    "https://start.us-gov-home.awsapps.com/directory/d-9067c0ffee": (None, "aws-us-gov"),
    "https://start.us-gov-home.awsapps.com/directory/acme/": (None, "aws-us-gov"),
    "https://identitycenter.amazonaws.com/ssoins-1234567890abcdef": (None, None),
}


@pytest.mark.parametrize("url", AWS_FORMS)
def test_every_aws_portal_form_is_accepted_with_what_its_host_says(url: str) -> None:
    portal = portal_url.parse(url)
    assert validate.start_url(url) == url.split("#")[0]  # the address bar's fragment is no part of it
    assert portal.aws_owned and (portal.region, portal.partition) == AWS_FORMS[url]


@pytest.mark.parametrize("url", ["https://sso.example.com", "https://sso.example.com/start",
                                 "https://sso.example.com:8443/start/", "https://d-123.awsapps.com.evil.example/start"])
def test_any_other_https_host_is_a_custom_domain_to_follow(url: str) -> None:
    portal = portal_url.parse(url)
    assert portal.vanity and portal.region is None


BAD = {
    "http://acme.awsapps.com/start": "https://",
    "https://user@acme.awsapps.com/start": "no user@",
    "https://user:pw@sso.example.com/": "no user@",
    "https://acme.awsapps.com:443/start": "takes no port",
    "https://ssoins-x.portal.us-east-1.app.aws:8443": "takes no port",
    "https://acme.awsapps.com/start?region=eu-west-1": "query",
    "https://acme.awsapps.com/start#/device?user_code=X": "query",
    "https://acme.awsapps.com/not-start": "'/start'",
    "https://start.us-gov-home.awsapps.com/start": "/directory/<id>",
    "https://identitycenter.amazonaws.com/not-an-issuer": "/ssoins-",
    "https://oidc.us-east-1.amazonaws.com": "not an access portal",
    "https://acme.awsapps.com/start ": "spaces",
    " https://acme.awsapps.com/start": "https://",
    "https://acme.awsapps.com/st\nart": "spaces",
    "https://acme.awsapps.com/start\x1b[2J": "spaces",
    "https://x..example.com/": "not a host name",
    "https://-x.example.com/": "not a host name",
    "https://intranet/start": "not a host name",
    "https://sso.example.com:70000/": "out of range",
    "https://sso.example.com//start": "empty segment",
    "": "expected",
}


@pytest.mark.parametrize("url", BAD)
def test_anything_else_is_refused_saying_why(url: str) -> None:
    with pytest.raises(UserError) as err:
        portal_url.parse(url)
    assert BAD[url] in err.value.message
    assert "\n" not in err.value.message and "\x1b" not in err.value.message


def test_the_region_comes_from_the_host_and_a_contradiction_is_refused() -> None:
    portal = portal_url.parse("https://ssoins-7223c4f9117b4c94.portal.eu-west-1.app.aws")
    assert portal_url.sso_region(portal, None) == "eu-west-1"
    assert portal_url.sso_region(portal, "eu-west-1") == "eu-west-1"
    with pytest.raises(UserError, match="contradicts"):
        portal_url.sso_region(portal, "us-east-1")
    china = portal_url.parse("https://d-9067c0ffee.awsapps.cn/start")
    assert portal_url.sso_region(china, "cn-northwest-1") == "cn-northwest-1"
    with pytest.raises(UserError, match="partition aws-cn"):
        portal_url.sso_region(china, "us-east-1")
    gov = portal_url.parse("https://start.us-gov-home.awsapps.com/directory/d-9067c0ffee")
    with pytest.raises(UserError, match="partition aws-us-gov"):
        portal_url.sso_region(gov, "eu-west-1")
    assert portal_url.sso_region(portal_url.parse("https://acme.awsapps.com/start"), None) is None


def test_the_partition_of_every_region_botocore_knows_is_botocores() -> None:
    """partitions.of_region is data, not botocore (off every hot path): it must agree with botocore's file."""
    import botocore

    with open(os.path.join(os.path.dirname(botocore.__file__), "data", "partitions.json"), encoding="utf-8") as f:
        data = json.load(f)
    checked = 0
    for partition in data["partitions"]:
        for region in partition["regions"]:
            if region.endswith("-global"):
                continue
            assert partitions.of_region(region) == partition["id"], region
            checked += 1
    assert checked > 30
    assert partitions.of_region(None) == "aws"
    assert partitions.arn_prefix("cn-north-1") == "arn:aws-cn:"
    assert partitions.arn_prefix("us-gov-east-1") == "arn:aws-us-gov:"


def test_set_takes_the_sso_region_from_a_portal_host_and_refuses_a_contradiction(env: dict[str, str]) -> None:
    url = "https://ssoins-7223c4f9117b4c94.portal.eu-west-1.app.aws"
    base = ["set", "acme.prod", "--start-url", url, "--account-id", "111111111111", "--role-name", "AdminRole",
            "--no-verify", "--json"]
    proc = run_keyrack(*base, env=env)
    assert proc.returncode == 0, proc.stderr
    config = open(env["AWS_CONFIG_FILE"], encoding="utf-8").read()
    assert f"sso_start_url = {url}\n" in config and "sso_region = eu-west-1\n" in config
    before = config
    proc = run_keyrack(*base, "--sso-region", "us-east-1", env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "contradicts the start URL" in proc.stderr
    assert open(env["AWS_CONFIG_FILE"], encoding="utf-8").read() == before


@pytest.mark.parametrize("given", ["https://ACME.awsapps.com/start", "https://acme.awsapps.com/start#/",
                                   "https://acme.awsapps.com/start/#"])
def test_a_start_url_is_written_in_one_spelling_so_one_portal_is_one_session(env: dict[str, str], given: str) -> None:
    common = ["--sso-region", "us-east-1", "--account-id", "111111111111", "--role-name", "AdminRole", "--no-verify"]
    assert run_keyrack("set", "a", "--start-url", given, *common, env=env).returncode == 0
    assert run_keyrack("set", "b", "--start-url", "https://acme.awsapps.com/start", *common, env=env).returncode == 0
    config = open(env["AWS_CONFIG_FILE"], encoding="utf-8").read()
    assert config.count("[sso-session ") == 1  # b joined a's session: one portal, one sign-in
    url = "https://acme.awsapps.com/start/" if given.endswith("/#") else "https://acme.awsapps.com/start"
    assert [line for line in config.splitlines() if line.startswith("sso_start_url")] == [f"sso_start_url = {url}"]
    assert portal_url.same(given, "https://acme.awsapps.com/start/")
    assert not portal_url.same(given, "https://acme2.awsapps.com/start")


@pytest.mark.parametrize("url", ["http://acme.awsapps.com/start", "https://acme.awsapps.com:8443/start",
                                 "https://me@acme.awsapps.com/start", "https://acme.awsapps.com/start\t"])
def test_set_refuses_a_bad_start_url_in_one_line_before_touching_anything(env: dict[str, str], url: str) -> None:
    proc = run_keyrack("set", "acme.prod", "--start-url", url, "--sso-region", "us-east-1", "--account-id",
                       "111111111111", "--role-name", "AdminRole", "--no-verify", env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("keyrack: invalid start URL") and proc.stderr.count("\n") == 1
    assert not os.path.exists(env["AWS_CONFIG_FILE"])


def test_a_hand_edited_session_whose_region_contradicts_its_portal_host_is_one_line(env: dict[str, str]) -> None:
    from harness import run_credential_process, write_profile

    write_profile("acme.prod", start_url="https://ssoins-7223c4f9117b4c94.portal.eu-west-1.app.aws",
                  sso_region="us-east-1", env=env)
    before = open(env["AWS_CONFIG_FILE"], "rb").read()
    proc = run_credential_process("acme.prod", env={**env, "KEYRACK_AUTO_UNLOCK": "never"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "sso_region = us-east-1 contradicts sso_start_url" in proc.stderr and "eu-west-1" in proc.stderr
    assert open(env["AWS_CONFIG_FILE"], "rb").read() == before
