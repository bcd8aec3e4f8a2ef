"""Per-connection limits: frame size and frames per second."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from webapp.realtime.codec import decode_frame, frame_text
from webapp.realtime.errors import (
    FrameFarTooLargeError,
    PayloadTooLargeError,
    RateLimitedError,
)

# A frame this many times over the limit closes the connection (close 1009);
# one merely over it gets an error frame.
FAR_OVER_FACTOR = 4


@dataclass(slots=True)
class TokenBucket:
    """A token bucket holding up to one second's worth of frames.

    ``take`` refills by elapsed time at ``rate`` tokens per second; the rate is
    passed on each call so a changed limit applies to the next frame.
    """

    tokens: float
    updated_at: float

    def take(self, rate: int, now: float) -> None:
        """Spend one token.

        :raises RateLimitedError: when none is left, saying when one will be.
        """
        elapsed = now - self.updated_at
        if elapsed > 0:
            self.tokens = min(float(rate), self.tokens + elapsed * rate)
            self.updated_at = now
        elif self.tokens > rate:
            self.tokens = float(rate)
        if self.tokens >= 1:
            self.tokens -= 1
            return
        wait = (1 - self.tokens) / rate
        raise RateLimitedError(max(1, math.ceil(wait * 1000)))


def text_size(text: str, limit: int) -> int:
    """Return the UTF-8 size of ``text``, computed only where it could matter."""
    length = len(text)
    # UTF-8 takes 1 to 4 bytes a character: skip encoding when the answer is sure.
    if length > limit or length * 4 <= limit:
        return length
    return len(text.encode("utf-8", "surrogatepass"))


def check_frame_size(size: int, limit: int) -> None:
    """Refuse a frame of ``size`` bytes over ``limit``.

    :raises FrameFarTooLargeError: far over it (the connection closes).
    :raises PayloadTooLargeError: over it.
    """
    if size <= limit:
        return
    if size > limit * FAR_OVER_FACTOR:
        raise FrameFarTooLargeError()
    raise PayloadTooLargeError()


def checked_frame(data: Any, size: int | None, limit: int) -> Any:
    """Return a frame's JSON value once its size is known to be within ``limit``.

    ``data`` is the frame's text (decoded here) or its decoded value;
    ``size`` is its size in bytes where the transport knows it.

    Limitation: a decoded value is measured by encoding it again (a transport
    that decodes frames itself, like Socket.IO, keeps no text), so its size
    can differ slightly from what the client sent (spacing, escapes).
    """
    if isinstance(data, str):
        check_frame_size(text_size(data, limit) if size is None else size, limit)
        return decode_frame(data)
    if size is None:
        size = text_size(frame_text(data), limit)
    check_frame_size(size, limit)
    return data
