"""Security headers sent with every response."""

from __future__ import annotations

from flask import Flask, Response, request

# Pages load scripts and styles only from this app. The demo page talks to
# whichever API group and realtime server a person types in, so connections
# may go to any http(s) or ws(s) origin; everything else stays same-origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http: https: ws: wss:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)


def init_app(app: Flask) -> None:
    """Add the security headers to every response of ``app``."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/api:"):
            headers.setdefault("Content-Security-Policy", _CSP)
            headers.setdefault("X-Frame-Options", "DENY")
        return response
