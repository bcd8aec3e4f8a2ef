"""The Marvel chat demo: one page chatting in a channel through the browser SDK."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from webapp.demo_data import DEMO_CHANNEL

bp = Blueprint("demo", __name__)

# Query values are only echoed into form fields; anything longer is no real
# API group address or connection hash.
_MAX_QUERY_LENGTH = 500


def _query_value(name: str) -> str:
    return request.args.get(name, "").strip()[:_MAX_QUERY_LENGTH]


@bp.get("/")
def index():
    """Show the chat page, prefilled from the ``api`` and ``hash`` query values."""
    return render_template(
        "demo/index.html",
        api_base_url=_query_value("api"),
        connection_hash=_query_value("hash"),
        channel=DEMO_CHANNEL,
        debug=request.args.get("debug") == "1",
    )
