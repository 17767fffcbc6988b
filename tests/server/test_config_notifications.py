"""The ``notifications`` section of the node configuration (e-mail), and how the node wires it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from adapters.mail import MailNotifier, Recipient
from focalpoint.errors import ConfigError
from focalpoint.node.notify import AllNotifiers, CapturingNotifier, LogNotifier
from focalpoint.server.config import load_config
from focalpoint.server.node import _configured_notifier
from tests.server.test_config import VALID, config_error, write_config

NOTIFICATIONS: dict[str, Any] = {
    "email": {
        "host": "smtp.example.org",
        "port": 587,
        "starttls": True,
        "username": "focalpoint",
        "password_file": "secrets/smtp-password",
        "from": "focalpoint@example.org",
        "console_url": "https://focalpoint.example.org/",
    },
    "recipients": {
        "u-claire": {"email": "claire@example.org", "language": "fr"},
        "u-ann": {"email": "ann@example.org"},
    },
}


def _with(edit: Any = None) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    data["notifications"] = copy.deepcopy(NOTIFICATIONS)
    if edit is not None:
        edit(data["notifications"])
    return data


def test_no_section_no_mail(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, VALID)).mail is None


def test_the_section_loads(tmp_path: Path) -> None:
    mail = load_config(write_config(tmp_path, _with())).mail
    assert mail is not None
    assert (mail.host, mail.port, mail.username, mail.sender) == (
        "smtp.example.org",
        587,
        "focalpoint",
        "focalpoint@example.org",
    )
    assert mail.password_file == (tmp_path / "secrets" / "smtp-password").resolve()
    assert mail.recipients == {
        "u-claire": Recipient("claire@example.org", "fr"),
        "u-ann": Recipient("ann@example.org", "en"),
    }
    assert (mail.attempts, mail.timeout_seconds) == (5, 30.0)


def _set(*keys: str, value: object) -> Any:
    def edit(n: dict[str, Any]) -> None:
        for k in keys[:-1]:
            n = n[k]
        n[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set("email", "starttls", value=False), "notifications.email.starttls: expected true"),
        (_set("email", "from", value="not an address"), "notifications.email.from: expected an e-mail address"),
        (_set("email", "console_url", value="focalpoint"), "notifications.email.console_url: expected the console's"),
        (_set("email", "port", value=0), "notifications.email.port: expected an integer in [1, 65535]"),
        (_set("email", "attempts", value=0), "notifications.email.attempts: expected an integer in [1, 20]"),
        (_set("email", "hots", value="x"), "notifications.email.hots: unknown key (did you mean host?)"),
        (
            _set("recipients", "u-ann", "email", value="ann at example"),
            "notifications.recipients.u-ann.email: expected an e-mail address",
        ),
        (
            _set("recipients", "u-ann", "language", value="de"),
            "notifications.recipients.u-ann.language: expected one of en, fr, ar",
        ),
        (lambda n: n.pop("email"), "notifications.email: required key is missing"),
        (lambda n: n["email"].pop("password_file"), "notifications.email.password_file: required key is missing"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, edit: Any, expected: str) -> None:
    assert expected in config_error(write_config(tmp_path, _with(edit)))


def test_a_wrong_recipient_address_is_not_repeated(tmp_path: Path) -> None:
    message = config_error(write_config(tmp_path, _with(_set("recipients", "u-ann", "email", value="ann at home"))))
    assert "ann at home" not in message


def test_the_node_tells_the_log_and_mail_and_refuses_a_readable_password_file(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, _with()))
    assert config.mail is not None
    secret = config.mail.password_file
    secret.parent.mkdir(parents=True)
    secret.write_text("pw\n", encoding="utf-8")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        _configured_notifier(config, lambda coro: coro.close())
    secret.chmod(0o600)
    notifier = _configured_notifier(config, lambda coro: coro.close())
    assert isinstance(notifier, AllNotifiers)
    assert [type(n) for n in notifier.notifiers] == [LogNotifier, MailNotifier]
    assert isinstance(_configured_notifier(load_config(write_config(tmp_path / "plain", VALID)), print), LogNotifier)


async def test_one_failing_notifier_does_not_keep_the_others_from_being_told() -> None:
    class Broken:
        async def notify(self, users: Any, event: str, *, case_ref: str = "") -> None:
            raise OSError("down")

    captured = CapturingNotifier()
    await AllNotifiers((Broken(), captured)).notify(["u-ann"], "break_glass", case_ref="")
    assert len(captured.sent) == 1
