"""Forms of the builder's dashboard: workspaces, Realtime settings, channel rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    ValidationError,
)

from webapp.forms import NoControlCharacters
from webapp.models import HISTORY_SIZES, ChannelRule, Workspace
from webapp.realtime.channels import rule_name_problem

WORKSPACE_NAME_MAX = 80
RULE_FIELDS = (
    "name",
    "nested",
    "anonymous_allowed",
    "presence",
    "history_size",
    "publish",
    "direct",
    "receive",
)
LIMIT_FIELDS = (
    "max_connections",
    "max_frame_bytes",
    "frames_per_second",
    "idle_timeout_seconds",
)

PUBLISH_LABELS = {
    "off": "Off",
    "any": "Any client",
    "authenticated": "Authenticated clients only",
}
RECEIVE_LABELS = {
    "everyone": "Everyone",
    "authenticated": "Authenticated clients only",
}
_NAME_TOO_LONG = f"A workspace name has at most {WORKSPACE_NAME_MAX} characters."
HISTORY_LABELS = {size: str(size) if size else "None" for size in HISTORY_SIZES}


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class WorkspaceForm(FlaskForm):
    """Create or rename a workspace."""

    name = StringField(
        "Workspace name",
        filters=[_strip],
        validators=[
            DataRequired("Give the workspace a name."),
            Length(max=WORKSPACE_NAME_MAX, message=_NAME_TOO_LONG),
            NoControlCharacters("A workspace name cannot hold control characters."),
        ],
    )


class DeleteWorkspaceForm(FlaskForm):
    """Delete a workspace once its name has been typed again."""

    confirm_name = StringField(
        "Type the workspace's name to confirm",
        filters=[_strip],
        validators=[DataRequired("Type the workspace's name to confirm.")],
    )


class RealtimeForm(FlaskForm):
    """Switch Realtime on or off for a workspace."""

    enabled = SelectField(
        "Realtime enabled",
        choices={"yes": "Yes", "no": "No"},
        validators=[InputRequired("Choose Yes or No.")],
    )


class ConfirmForm(FlaskForm):
    """A destructive action that needs a ticked box (works without JavaScript)."""

    confirm = BooleanField(
        "I understand", validators=[DataRequired("Tick the box to confirm.")]
    )


class ChannelRuleForm(FlaskForm):
    """Add or edit a channel rule."""

    name = StringField("Channel name", filters=[_strip])
    nested = BooleanField("Allow nested channels (the name ends with *)")
    anonymous_allowed = BooleanField(
        "Anonymous clients may join (untick: authenticated clients only)",
        default=True,
    )
    presence = BooleanField("Presence")
    history_size = SelectField(
        "Message history",
        coerce=int,
        choices=HISTORY_LABELS,
        default=0,
    )
    publish = SelectField("Publish", choices=PUBLISH_LABELS, default="any")
    direct = SelectField(
        "Direct (private) messages",
        choices=PUBLISH_LABELS,
        default="off",
    )
    receive = SelectField(
        "Receive messages", choices=RECEIVE_LABELS, default="everyone"
    )

    def validate_name(self, field: StringField) -> None:
        problem = rule_name_problem(field.data)
        if problem is None:
            problem = _wildcard_problem(field.data, self.nested.data)
        if problem is not None:
            raise ValidationError(problem)

    def copy_to(self, rule: ChannelRule) -> None:
        """Store the form's values on ``rule``."""
        for name in RULE_FIELDS:
            setattr(rule, name, self[name].data)


def _wildcard_problem(name: str, nested: bool) -> str | None:
    """Return why ``name`` breaks the ``*`` rules for its ``nested`` setting."""
    if not nested:
        if "*" in name:
            return "Only a rule allowing nested channels may use * in its name."
        return None
    if not name.endswith("*"):
        return "A rule allowing nested channels must end with * (for example room:*)."
    if "*" in name[:-1]:
        return "Only the last character of the name may be *."
    return None


def _limit(label: str, low: int, high: int) -> IntegerField:
    message = f"{label} must be a whole number from {low} to {high}."
    return IntegerField(
        label,
        validators=[InputRequired(message), NumberRange(low, high, message)],
    )


class LimitsForm(FlaskForm):
    """A workspace's connection and traffic limits."""

    max_connections = _limit("Max connections", 1, 100_000)
    max_frame_bytes = _limit("Max frame size (bytes)", 256, 1_048_576)
    frames_per_second = _limit("Frames per second per client", 1, 1000)
    idle_timeout_seconds = _limit("Idle timeout (seconds)", 10, 86_400)

    def copy_to(self, workspace: Workspace) -> None:
        """Store the form's values on ``workspace``."""
        for name in LIMIT_FIELDS:
            setattr(workspace, name, self[name].data)
