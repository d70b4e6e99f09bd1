"""Password validators beside Django's four (AUTH_PASSWORD_VALIDATORS in config/settings.py).

Django's minimum length (12) counts twelve spaces, `aaaaaaaaaaaa` and `qwertyuiopas` as long
enough, and its common-password list does not hold them: these refuse them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

# Keys in the order a hand walks them: rows of US QWERTY, German QWERTZ and French AZERTY, the
# columns of QWERTY, and the alphabet. A password inside one of these (or reversed) is a walk.
_WALKS = (
    "`1234567890-=qwertyuiop[]\\asdfghjkl;'zxcvbnm,./",
    "1234567890qwertyuiopasdfghjklzxcvbnm",
    "1234567890qwertzuiopasdfghjklyxcvbnm",
    "1234567890azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/-['=]",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
)


class NotOnlyWhitespaceValidator:
    """Refuses a password made of spaces, tabs or other whitespace only."""

    def validate(self, password: str, user=None) -> None:
        if not password.strip():
            raise ValidationError(
                "This password is only spaces. Use letters, digits or symbols too.",
                code="password_only_whitespace",
            )

    def get_help_text(self) -> str:
        return "Your password can’t be only spaces."


class RepetitionValidator:
    """Refuses one character, or one group of up to three, repeated (`aaaaaaaaaaaa`, `abababababab`)."""

    max_unit = 3

    def validate(self, password: str, user=None) -> None:
        text = password.casefold()
        for size in range(1, self.max_unit + 1):
            unit = text[:size]
            if len(text) > size and (unit * (len(text) // size + 1)).startswith(text):
                raise ValidationError(
                    "This password repeats the same characters. Use a longer mix.",
                    code="password_repetitive",
                )

    def get_help_text(self) -> str:
        return "Your password can’t be one character or group repeated."


class KeyboardWalkValidator:
    """Refuses a password that is a run along the keyboard or the alphabet (`qwertyuiopas`)."""

    def validate(self, password: str, user=None) -> None:
        text = "".join(password.casefold().split())
        if len(text) < 4:
            return
        for walk in _WALKS:
            if text in walk or text in walk[::-1]:
                raise ValidationError(
                    "This password is a run of neighbouring keys. Use a longer mix.",
                    code="password_keyboard_walk",
                )

    def get_help_text(self) -> str:
        return "Your password can’t be a run of neighbouring keys like “qwertyuiop”."
