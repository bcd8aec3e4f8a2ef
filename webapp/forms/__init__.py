"""Flask-WTF forms, one module per blueprint, and the validators they share."""

from __future__ import annotations

import unicodedata
from typing import Any

from wtforms.validators import ValidationError


class NoControlCharacters:
    """Refuse text holding control characters: NUL, line breaks, escapes.

    Names and emails are shown on pages and stored in text columns, where a
    NUL byte is refused outright (PostgreSQL) and the others have no place.
    """

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form: Any, field: Any) -> None:
        data = field.data
        if isinstance(data, str) and any(
            unicodedata.category(char) == "Cc" for char in data
        ):
            raise ValidationError(self.message)
