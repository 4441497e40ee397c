"""A test BROWSER, installed per test with a `#!<sys.executable>` shebang.

Like a real browser launcher it returns at once: it logs the URL it was asked
to open (browser.log beside itself), forks, and the child fetches the URL in
the background, following redirects, so a PKCE loopback listener receives its
code and a device verification page is "visited" by the user. The outcome of
each fetch goes to browser-fetch.log (status and path only: never the query,
which carries the authorization code).

TEST_BROWSER_MODE in the environment changes what it does:
  (unset)  log, fetch in the background, exit 0
  log      log only, never fetch (nobody looks at the browser)
  fail     log, exit 1 (the browser cannot be launched)
"""
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def log(name: str, line: str) -> None:
    with open(os.path.join(HERE, name), "a", encoding="utf-8") as f:
        f.write(line + "\n")


def fetch(url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, no proxy
    try:
        with opener.open(url, timeout=60) as resp:
            resp.read()
            outcome = f"{resp.status} {urllib.parse.urlsplit(resp.geturl()).path}"
    except urllib.error.HTTPError as exc:
        outcome = f"{exc.code} {urllib.parse.urlsplit(exc.geturl()).path}"
    except Exception as exc:  # the loopback listener may already be gone
        outcome = f"error {type(exc).__name__}"
    log("browser-fetch.log", outcome)


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else ""
    log("browser.log", url)
    mode = os.environ.get("TEST_BROWSER_MODE", "")
    if mode == "fail":
        return 1
    if mode == "log" or not url:
        return 0
    if os.fork():
        return 0  # the launcher returns at once; the "browser" goes on
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        fetch(url)
    finally:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
