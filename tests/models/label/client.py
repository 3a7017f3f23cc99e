"""Plain HTTP calls to a labeling server, as curl would make them: any Host, any header, any body."""
from __future__ import annotations

import http.client
import json
import re
from urllib.parse import urlparse


def call(url: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request to the server at `url`; (status, headers, body). Host is the server's unless given."""
    address = urlparse(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Host": address.netloc, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def page_token(url: str) -> str:
    """The token the server put into its page, as the page's script reads it."""
    status, _, html = call(url, "GET", "/")
    assert status == 200
    return re.search(rb'<meta name="shelfscan-token" content="([^"]+)">', html).group(1).decode()


def post(url: str, path: str, value, token: str, **headers: str) -> tuple[int, dict]:
    """A POST as the page sends it (JSON, with the token); (status, decoded JSON answer)."""
    status, _, body = call(url, "POST", path, json.dumps(value).encode(),
                           {"Content-Type": "application/json", "X-Shelfscan-Token": token, **headers})
    return status, json.loads(body)
