"""The JSON of frames: strict decoding, and the checks a decoded frame must pass.

Python's json module accepts more than JSON (NaN, Infinity, a 1e999 that
overflows to Infinity) and decodes escaped lone surrogates into text no UTF-8
encoder takes. A frame carrying any of them would reach the other members of
its channel and break them (browsers cannot parse NaN; a WebSocket cannot send
a lone surrogate), so such frames are refused here, as is nesting deep enough
to exhaust a decoder's recursion.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from webapp.realtime.errors import InvalidFrameError
from webapp.realtime.sink import encode

# Deeper frames are refused: they exhaust decoders' recursion (Python's stops
# near 1000 levels, counting the caller's own) on the way to other members.
MAX_NESTING = 64
# A JSON escape of a UTF-16 surrogate; alone, it decodes to text that no
# UTF-8 encoder (and so no WebSocket member) accepts.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)
_strict_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
)


def decode_frame(text: str) -> Any:
    """Return the JSON value of a frame's text, refusing what members could not read.

    :raises InvalidFrameError: for anything but strict JSON that can be sent on.
    """
    try:
        value = _decoder.decode(text)
    except (ValueError, RecursionError):
        raise InvalidFrameError("The frame is not JSON.") from None
    if _SURROGATE_ESCAPE.search(text):
        _check_text(encode(value))
    _check_nesting(text, value)
    return value


def frame_text(value: Any) -> str:
    """Return the JSON text of a decoded frame, refusing what members could not read.

    For transports that decode frames themselves (Socket.IO), whose decoders
    accept NaN, Infinity and lone surrogates.

    :raises InvalidFrameError: when the value is no strict, sendable JSON.
    """
    try:
        text = _strict_encoder.encode(value)
    except (TypeError, ValueError, RecursionError):
        raise InvalidFrameError("A frame must be JSON.") from None
    _check_text(text)
    _check_nesting(text, value)
    return text


def _check_text(text: str) -> None:
    if _SURROGATE.search(text):
        raise InvalidFrameError("The frame holds text that is not valid Unicode.")


def _check_nesting(text: str, value: Any) -> None:
    # Counting brackets is quick and spares the walk for nearly every frame.
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return
    pending = [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        item, depth = pending.pop()
        if depth > MAX_NESTING:
            raise InvalidFrameError(
                f"A frame may nest objects and arrays at most {MAX_NESTING} deep."
            )
        children = item.values() if isinstance(item, dict) else item
        pending.extend(
            (child, depth + 1) for child in children if isinstance(child, (dict, list))
        )
