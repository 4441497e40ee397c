"""STS: role credentials from moto, or the sandbox's own GetCallerIdentity.

With a moto STS endpoint, `MotoMinter` mints role credentials with moto's
AssumeRole, so moto's GetCallerIdentity proves which account and role arrived.
Without one, the sandbox mints credentials itself and answers STS
GetCallerIdentity (Query protocol, XML) for them, checking the SigV4 signature
with the secret it handed out, so a mangled secret or session token fails as it
would at AWS.
"""
from __future__ import annotations

import hashlib
import os
import hmac
import re
import threading
import uuid
from urllib.parse import quote

from keyrack_sh import partitions
from keyrack_sh.sandbox.state import ApiError, State
from keyrack_sh.sandbox.wire import Request, Response

NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_CREDENTIAL = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<scope>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]+)\s*$"
)


class MotoMinter:
    """Mints role credentials with moto's AssumeRole (boto3 imported only here)."""

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        self.endpoint = endpoint
        self.region = region
        self._client = None
        self._lock = threading.Lock()

    def _sts(self):
        with self._lock:
            if self._client is None:
                import botocore.session

                # A bare botocore session: no profile, no credential chain, so
                # whatever AWS_PROFILE or config a test has set cannot interfere.
                session = botocore.session.Session(session_vars={
                    "profile": (None, None, None, None),
                    "config_file": (None, None, os.devnull, None),
                    "credentials_file": (None, None, os.devnull, None),
                })
                self._client = session.create_client(
                    "sts", region_name=self.region, endpoint_url=self.endpoint,
                    aws_access_key_id="testing", aws_secret_access_key="testing",
                    aws_session_token="testing",
                )
            return self._client

    def __call__(self, account_id: str, role_name: str, user: str, lifetime: float) -> tuple[str, str, str]:
        answer = self._sts().assume_role(
            RoleArn=f"{partitions.arn_prefix(self.region)}iam::{account_id}:role/{role_name}",
            RoleSessionName=user,
            DurationSeconds=max(900, min(43200, int(lifetime))),
        )["Credentials"]
        return answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]


def who(state: State, req: Request) -> dict:
    action = req.form().get("Action") or "UnknownAction"
    key = _access_key_id(req)
    with state.lock:
        creds = state.role_creds.get(key or "")
        name = f"{creds.account_id}/{creds.role_name}" if creds else None
    return {"operation": action, "client_name": name}


def _access_key_id(req: Request) -> str | None:
    match = _CREDENTIAL.match(req.header("authorization") or "")
    return match.group("key") if match else None


def handle(state: State, req: Request) -> Response:
    action = req.form().get("Action")
    if action != "GetCallerIdentity":
        raise ApiError("InvalidAction", f"Could not find operation {action}", 400)
    match = _CREDENTIAL.match(req.header("authorization") or "")
    if not match:
        raise ApiError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    with state.lock:
        creds = state.role_creds.get(match.group("key"))
        config_verify = state.config.verify_signatures
        arn = partitions.arn_prefix(state.config.region)  # an aws-cn instance's accounts are arn:aws-cn:
    if creds is None:
        raise ApiError("InvalidClientTokenId", "The security token included in the request is invalid.")
    if (req.header("x-amz-security-token") or "") != creds.session_token:
        raise ApiError("InvalidClientTokenId", "The security token included in the request is invalid.")
    if config_verify and not _signature_ok(req, match, creds.secret_access_key):
        raise ApiError("SignatureDoesNotMatch",
                       "The request signature we calculated does not match the signature you provided.", 403)
    if creds.expires_at <= state.now():
        raise ApiError("ExpiredToken", "The security token included in the request is expired")
    return Response.xml(
        f'<GetCallerIdentityResponse xmlns="{NS}">\n'
        "  <GetCallerIdentityResult>\n"
        f"    <Arn>{arn}sts::{creds.account_id}:assumed-role/{creds.role_name}/{creds.user}</Arn>\n"
        f"    <UserId>{_role_id(creds.account_id, creds.role_name)}:{creds.user}</UserId>\n"
        f"    <Account>{creds.account_id}</Account>\n"
        "  </GetCallerIdentityResult>\n"
        f"  <ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>\n"
        "</GetCallerIdentityResponse>\n"
    )


def error_xml(code: str, message: str) -> str:
    kind = "Receiver" if code in ("InternalFailure", "ServiceUnavailable") else "Sender"
    return (
        f'<ErrorResponse xmlns="{NS}">\n'
        f"  <Error><Type>{kind}</Type><Code>{code}</Code><Message>{_xml_escape(message)}</Message></Error>\n"
        f"  <RequestId>{uuid.uuid4()}</RequestId>\n"
        "</ErrorResponse>\n"
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _role_id(account_id: str, role_name: str) -> str:
    digest = hashlib.sha256(f"{account_id}/{role_name}".encode()).hexdigest().upper()
    return "AROA" + "".join(c for c in digest if c.isalnum())[:17]


# -- SigV4 ---------------------------------------------------------------------------

def _signature_ok(req: Request, match: re.Match, secret: str) -> bool:
    scope = match.group("scope")  # date/region/service/aws4_request
    parts = scope.split("/")
    amz_date = req.header("x-amz-date") or ""
    if len(parts) != 4 or parts[3] != "aws4_request" or not amz_date.startswith(parts[0]):
        return False
    signed = match.group("signed").split(";")
    canonical_headers = "".join(f"{h}:{' '.join((req.header(h) or '').split())}\n" for h in signed)
    path, _, query = req.raw_target.partition("?")
    canonical_query = "&".join(sorted(
        "=".join(quote(_unquote(p), safe="-_.~") for p in (pair.split("=", 1) + [""])[:2])
        for pair in query.split("&") if pair
    ))
    payload_hash = req.header("x-amz-content-sha256") or hashlib.sha256(req.body).hexdigest()
    canonical = "\n".join([req.method, quote(path or "/", safe="/-_.~"), canonical_query,
                           canonical_headers, ";".join(signed), payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in parts:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group("sig"))


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)
