"""Forms for builders' sign-up and log-in."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from webapp.forms import NoControlCharacters
from webapp.models import PASSWORD_MIN_LENGTH

# Hashing cost grows with the input; nobody needs a longer password than this.
PASSWORD_MAX_LENGTH = 256
EMAIL_MAX_LENGTH = 254


def normalise_email(value: str | None) -> str:
    """Return ``value`` stripped and lower-cased, as emails are stored."""
    return (value or "").strip().lower()


class SignupForm(FlaskForm):
    email = EmailField(
        "Email",
        filters=[normalise_email],
        validators=[
            DataRequired("Enter your email address."),
            Length(max=EMAIL_MAX_LENGTH, message="This email address is too long."),
            Email("Enter a valid email address."),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=PASSWORD_MIN_LENGTH,
                max=PASSWORD_MAX_LENGTH,
                message=(
                    f"The password must be {PASSWORD_MIN_LENGTH} to "
                    f"{PASSWORD_MAX_LENGTH} characters long."
                ),
            ),
        ],
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[
            DataRequired("Type the password again."),
            EqualTo("password", message="The passwords do not match."),
        ],
    )


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        filters=[normalise_email],
        validators=[
            DataRequired("Enter your email address."),
            Length(max=EMAIL_MAX_LENGTH, message="This email address is too long."),
            NoControlCharacters("Enter a valid email address."),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Enter your password."),
            Length(max=PASSWORD_MAX_LENGTH, message="This password is too long."),
        ],
    )
    remember = BooleanField("Remember me on this device")
