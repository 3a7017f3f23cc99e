"""Who may talk to the labeling server: its own page on the address it printed, and nobody else.

Any web page the person has open can send requests to 127.0.0.1, and a DNS-rebinding page can even
read the answers under its own host name. So every request must name the printed host, and every
call to the API must carry the per-server token that only the page this server served holds, in a
header a cross-origin page cannot set without CORS (which this server never grants), with a JSON
body (a plain form or a no-cors fetch cannot send application/json) and, when the browser says
where it comes from, from this origin.
"""
from __future__ import annotations

import hmac
import secrets
from typing import Mapping

TOKEN_HEADER = "X-Shelfscan-Token"
MAX_BODY = 64 * 1024  # a label or a page of positions is a few kB; the cap keeps a client from feeding us GBs

# Browsers send Sec-Fetch-Site on every request; these come from the page itself or from the person
# (typing the URL, a bookmark). Anything else (another site's <img>, fetch or form) is refused, except
# a top-level navigation to the page, so a link to it from a notebook still opens it.
_OWN_FETCH_SITES = ("same-origin", "none")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def security_headers(nonce: str | None = None) -> dict[str, str]:
    """Headers for every response: no sniffing, no framing, no referrer, nothing loaded from elsewhere.

    nonce: lets the page's own inline script and style run (the HTML response only)."""
    own = f"'nonce-{nonce}'" if nonce else "'none'"
    csp = (f"default-src 'none'; img-src 'self' data:; script-src {own}; style-src {own}; "
           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    return {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": csp,
            "Referrer-Policy": "no-referrer", "Cross-Origin-Resource-Policy": "same-origin"}


class Guard:
    """The checks for one server at `host` (e.g. "127.0.0.1:8765"), holding its secret `token`."""

    def __init__(self, host: str, token: str):
        self.host, self.token = host, token
        self.origin = f"http://{host}"

    def refuse_source(self, headers: Mapping[str, str], path: str) -> str | None:
        """Why a request of any kind is refused (None: it may go on): a foreign Host or Origin, or a
        browser request made by another site."""
        host = headers.get("Host")
        if host != self.host:
            return f"Host {host!r} is not {self.host}: open the address the server printed"
        origin = headers.get("Origin")
        if origin is not None and origin != self.origin:
            return f"requests from {origin} are not accepted, only from {self.origin}"
        site = headers.get("Sec-Fetch-Site")
        navigation = headers.get("Sec-Fetch-Mode") == "navigate" and headers.get("Sec-Fetch-Dest") == "document"
        if site is not None and site not in _OWN_FETCH_SITES and not (path == "/" and navigation):
            return f"a {site} request is not accepted; only the labeling page itself may ask"
        return None

    def refuse_api(self, headers: Mapping[str, str], method: str) -> str | None:
        """Why an API call is refused (None: it may go on): no or a wrong token; a POST not sent as JSON."""
        given = headers.get(TOKEN_HEADER) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return f"missing or wrong {TOKEN_HEADER}: only the page this server serves may use its API"
        kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if method == "POST" and kind != "application/json":
            return f"Content-Type {kind or 'none'!r} is not accepted; send application/json"
        return None
