"""Shared test helpers: a sample penguin row and a small keep-alive HTTP client."""

from __future__ import annotations

import http.client
import json
from typing import Any

ROW = {"island": "Dream", "bill_length_mm": 45.1, "bill_depth_mm": 17.0, "flipper_length_mm": 190,
       "body_mass_g": 3800, "sex": "male", "year": 2008}



class Client:
    """A keep-alive HTTP client for one server (one per thread)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                content_type: str | None = "application/json",
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = dict(headers or {})
        if content_type and data is not None:
            hdrs["Content-Type"] = content_type
        if self.token:
            hdrs.setdefault("Authorization", f"Bearer {self.token}")
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            resp = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            raise
        payload = resp.read()
        ctype = resp.getheader("Content-Type", "")
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        if "json" in ctype:
            return resp.status, json.loads(payload)
        return resp.status, payload.decode("utf-8", "replace")

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, body, **kw)

    def close(self) -> None:
        self.conn.close()
