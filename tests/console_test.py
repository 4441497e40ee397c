"""`keyrack console`: the AWS console as a profile's role, through the sandbox's federation endpoint.

The sandbox's login redirect leads to its console page, which says as what
role and account it was opened, the destination and the region; the tests
follow the URL as a browser does and read that page.
"""
from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from urllib.parse import urlsplit

from engine_support import Home, assert_one_line_failure, home  # noqa: F401 (fixture)

from harness import browser_urls, files_containing, install_browser, run, wait_for_browser_fetches


def follow(url: str) -> dict[str, str]:
    """Open `url` as a browser does (following redirects); the console page's fields."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as resp:
        page = resp.read().decode("utf-8")
        assert urlsplit(resp.geturl()).path == "/console"
    return dict(re.findall(r'<dd id="(\w+)">([^<]*)</dd>', page))


def console_url(home: Home, *args: str, **env: str) -> str:
    proc = home.keyrack("console", *args, "--url", **env)
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip()
    assert proc.stdout == url + "\n" and url not in proc.stderr
    return url


def test_url_signs_in_lazily_once_and_opens_the_console_home_as_the_role_in_the_profiles_region(home: Home) -> None:
    url = console_url(home, "p1")
    assert url.startswith(home.sandbox.endpoint + "/federation?")
    page = follow(url)
    assert (page["role"], page["account"]) == ("AdminRole", "111111111111")
    assert page["destination"] == "https://console.aws.amazon.com/console/home?region=eu-west-1"
    assert page["region"] == "eu-west-1"
    assert home.sandbox.sign_ins() == 1
    console_url(home, "p2")  # same sso-session: no second sign-in
    assert home.sandbox.sign_ins() == 1 and home.sandbox.count("GetSigninToken") == 2


def test_a_service_by_name_in_another_region(home: Home) -> None:
    page = follow(console_url(home, "p2", "--service", "s3", "--region", "us-west-2"))
    assert (page["role"], page["account"]) == ("Developer", "222222222222")
    assert page["destination"] == "https://console.aws.amazon.com/s3/home?region=us-west-2"
    assert page["region"] == "us-west-2"


def test_any_console_url_keeps_its_own_region_unless_region_is_given(home: Home) -> None:
    url = "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#Instances:"
    page = follow(console_url(home, "q1", "--destination", url))
    assert (page["role"], page["destination"], page["region"]) == ("ReadOnly", url, "us-east-1")
    page = follow(console_url(home, "q1", "--destination", url, "--region", "ap-south-1"))
    assert page["region"] == "ap-south-1"


def test_aws_profile_is_the_default_profile(home: Home) -> None:
    page = follow(console_url(home, AWS_PROFILE="q1"))
    assert page["role"] == "ReadOnly"


def test_the_browser_gets_the_url_and_nothing_else_does(home: Home) -> None:
    proc = home.keyrack("console", "p1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "opened the AWS console as AdminRole in account 111111111111 (profile p1)\n"
    assert wait_for_browser_fetches(2, home.env)[-1] == "200 /console"  # the sign-in, then the console
    url = browser_urls(home.env)[-1]
    assert "Action=login" in url and url not in proc.stderr
    assert home.sandbox.console_sessions()[0]["role_name"] == "AdminRole"
    signin_tokens = {t for t in home.sandbox.minted_secrets() if t in url}
    assert signin_tokens and files_containing(home.root, signin_tokens) == []


def test_each_profile_and_sso_session_opens_its_own_browser_for_sign_in_and_console(home: Home) -> None:
    work = install_browser(home.root.parent / "work-browser")
    personal = install_browser(home.root.parent / "personal-browser")
    home.write_config()
    text = home.config.read_text()
    text = text.replace("[profile p1]\n", f"[profile p1]\nkeyrack_browser = {work} {{url}} --new-window\n")
    text = text.replace("[sso-session s2]\n", f"[sso-session s2]\nkeyrack_browser = {personal} {{url}}\n")
    home.config.write_text(text)

    assert home.keyrack("unlock", "q1").returncode == 0  # s2's sign-in opens the personal browser
    assert "/authorize?" in browser_urls({"BROWSER": str(personal)})[0]
    proc = home.keyrack("console", "q1")
    assert proc.returncode == 0, proc.stderr
    assert wait_for_browser_fetches(2, {"BROWSER": str(personal)})[-1] == "200 /console"
    proc = home.keyrack("console", "p1")  # p1's session s1 signs in and opens the console in the work browser
    assert proc.returncode == 0, proc.stderr
    work_urls = browser_urls({"BROWSER": str(work)}, at_least=2)
    assert len(work_urls) == 2 and "/authorize?" in work_urls[0] and "Action=login" in work_urls[1]
    assert wait_for_browser_fetches(2, {"BROWSER": str(work)})[-1] == "200 /console"
    assert browser_urls(home.env) == []  # the default browser saw nothing
    assert [c["role_name"] for c in home.sandbox.console_sessions()] == ["ReadOnly", "AdminRole"]


def test_browser_option_wins_over_the_setting(home: Home) -> None:
    other = install_browser(home.root.parent / "other-browser")
    assert home.keyrack("console", "p1", "--browser", f"{other} {{url}}").returncode == 0
    assert "Action=login" in browser_urls({"BROWSER": str(other)}, at_least=1)[-1]


def test_a_browser_that_cannot_start_is_one_line_without_the_url(home: Home) -> None:
    proc = home.keyrack("console", "p1", "--browser", "/nonexistent/browser {url}")
    assert_one_line_failure(proc, 2, "cannot start the browser '/nonexistent/browser'", "keyrack console p1 --url")
    assert "federation" not in proc.stderr and "Signin" not in proc.stderr
    proc = home.keyrack("console", "p1", "--browser", "'unclosed")
    assert_one_line_failure(proc, 2, "--browser is not a command")
    assert home.sandbox.count("GetSigninToken") == 1  # the broken template asked for nothing


def test_errors_are_one_line_with_the_right_exit_code(home: Home) -> None:
    assert_one_line_failure(home.keyrack("console", "ghost", "--url"), 2, "'ghost'")
    assert_one_line_failure(home.keyrack("console", "--url"), 2, "AWS_PROFILE", "keyrack console PROFILE")
    # AWS_PROFILE is resolved as for every other command: the error says where the name came from.
    assert_one_line_failure(home.keyrack("console", "--url", AWS_PROFILE="ghost"), 2, "'ghost' (from AWS_PROFILE)")
    proc = home.keyrack("console", "p1", "--url", KEYRACK_AUTO_UNLOCK="never")
    assert_one_line_failure(proc, 2, "locked", "keyrack unlock p1")
    assert_one_line_failure(home.keyrack("console", "p1", "--url", "--destination", "https://console.amazonaws.cn/"),
                            2, "--destination")
    assert_one_line_failure(home.keyrack("console", "p1", "--url", "--region", "moon-1"), 2, "region")
    assert home.sandbox.sign_ins() == 0


def test_a_federation_failure_is_one_line_and_exit_1(home: Home) -> None:
    home.sandbox.fail("GetSigninToken", "InternalFailure")
    proc = home.keyrack("console", "p1", "--url")
    assert_one_line_failure(proc, 1, "sign-in endpoint", "refused", "keyrack console p1")
    assert console_url(home, "p1")  # and the next try works


def test_the_credentials_go_only_over_https_or_to_loopback(home: Home) -> None:
    proc = home.keyrack("console", "p1", "--url", AWS_ENDPOINT_URL_SIGNIN="http://signin.example.com")
    assert_one_line_failure(proc, 2, "AWS_ENDPOINT_URL_SIGNIN", "https")
    assert home.sandbox.count("GetRoleCredentials") == 0


_HEAVY_PROBE = """
import json, sys
from keyrack_sh.cli import main
code = main(["console", "p1", "--url"])
heavy = ("boto3", "botocore", "jinja2", "configupdater")
print(json.dumps([code, sorted(m for m in sys.modules if m.split(".")[0] in heavy)]), file=sys.__stderr__)
"""


def test_console_url_on_an_unlocked_session_loads_no_aws_sdk(home: Home) -> None:
    console_url(home, "p1")  # signs in and caches the role credentials
    proc = home.python(_HEAVY_PROBE)
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == [0, []]


_PARENT_RECORDING_BROWSER = """#!{python}
import os, sys
with open({log!r}, "a") as f:
    f.write(open(f"/proc/{{os.getppid()}}/cmdline").read().replace("\\0", " ") + "\\n")
    f.write(sys.argv[1] + "\\n")
"""


def test_the_default_opener_takes_the_url_on_stdin_not_in_its_argv(home: Home, tmp_path) -> None:
    log = tmp_path / "opened.log"
    script = tmp_path / "recording-browser"
    script.write_text(_PARENT_RECORDING_BROWSER.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    console_url(home, "p1")  # unlock first, so only the console URL reaches this browser
    proc = home.keyrack("console", "p1", BROWSER=str(script))
    assert proc.returncode == 0, proc.stderr
    for _ in range(100):
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    opener_argv, url = log.read_text().splitlines()[:2]
    assert "Action=login" in url  # the browser gets it in its argv: that is how browsers take a URL
    assert "SigninToken" not in opener_argv and "-c" in opener_argv.split()


def test_no_browser_to_open_is_one_line_pointing_at_url(home: Home) -> None:
    console_url(home, "p1")
    env = {k: v for k, v in home.env.items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    proc = run([sys.executable, "-m", "keyrack_sh", "console", "p1"], env={**env, "PATH": "/nonexistent"})
    assert_one_line_failure(proc, 2, "no browser could be opened here", "--url")


def test_a_profiles_browser_wins_over_its_sso_sessions(home: Home) -> None:
    team = install_browser(home.root.parent / "team-browser")
    mine = install_browser(home.root.parent / "my-browser")
    text = home.config.read_text()
    text = text.replace("[sso-session s1]\n", f"[sso-session s1]\nkeyrack_browser = {team} {{url}}\n")
    text = text.replace("[profile p2]\n", f"[profile p2]\nkeyrack_browser = {mine} {{url}}\n")
    home.config.write_text(text)
    console_url(home, "p1")  # the sign-in, through p1: its session's browser
    for profile in ("p1", "p2"):
        proc = home.keyrack("console", profile)
        assert proc.returncode == 0, proc.stderr
    team_urls = browser_urls({"BROWSER": str(team)}, at_least=2)
    my_urls = browser_urls({"BROWSER": str(mine)}, at_least=1)
    assert ["/authorize?" in team_urls[0], "Action=login" in team_urls[1], len(team_urls)] == [True, True, 2]
    assert len(my_urls) == 1 and "Action=login" in my_urls[0]  # p2: its own
    assert browser_urls(home.env) == []
