"""Requests and responses as the protocol modules see them (no http.server types)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from keyrack_sh.sandbox.state import ApiError


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base_url: str  # http://127.0.0.1:PORT, what clients were told to use
    raw_target: str = ""  # the request line's target, undecoded (for SigV4)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> dict:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise ApiError("InvalidRequestException", "request body is not JSON") from None
        if not isinstance(value, dict):
            raise ApiError("InvalidRequestException", "request body is not a JSON object")
        return value

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, {"Content-Type": "application/json", **(headers or {})},
                   json.dumps(value).encode("utf-8"))

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, {"Content-Type": "text/html; charset=utf-8"}, text.encode("utf-8"))

    @classmethod
    def xml(cls, text: str, status: int = 200) -> Response:
        return cls(status, {"Content-Type": "text/xml"}, text.encode("utf-8"))

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, {"Location": location, "Content-Type": "text/plain"}, b"")
