"""The ``notifications`` section of the node configuration (e-mail, webhooks, the queue's
retries), and how the node wires it."""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

import pytest

from adapters.mail import MailChannel
from adapters.webhook import WebhookChannel
from focalpoint.errors import ConfigError
from focalpoint.node.notify import AllNotifiers, CapturingNotifier, LogNotifier, QueuedNotifier, RetryPolicy
from focalpoint.server.config import WebhookConfig, load_config
from focalpoint.server.node import _configured_notifier
from focalpoint.storage.memory import MemoryStore
from tests.server.test_config import VALID, config_error, write_config

NOTIFICATIONS: dict[str, Any] = {
    "console_url": "https://focalpoint.example.org/",
    "email": {
        "host": "smtp.example.org",
        "port": 587,
        "starttls": True,
        "username": "focalpoint",
        "password_file": "secrets/smtp-password",
        "from": "focalpoint@example.org",
    },
    "webhooks": [
        {"url": "https://hooks.example.org/focalpoint", "secret_file": "secrets/webhook", "events": ["emergency"]},
        {"url": "http://127.0.0.1:9000/relay", "secret_file": "secrets/relay"},
    ],
    "retry": {"attempts": 10, "max_age_hours": 12},
}


def _with(edit: Any = None) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    data["notifications"] = copy.deepcopy(NOTIFICATIONS)
    if edit is not None:
        edit(data["notifications"])
    return data


def test_no_section_no_notifications(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, VALID)).notifications is None


def test_the_section_loads(tmp_path: Path) -> None:
    n = load_config(write_config(tmp_path, _with())).notifications
    assert n is not None
    assert n.console_url == "https://focalpoint.example.org/"
    assert n.mail is not None
    assert (n.mail.host, n.mail.port, n.mail.username, n.mail.sender, n.mail.console_url) == (
        "smtp.example.org",
        587,
        "focalpoint",
        "focalpoint@example.org",
        "https://focalpoint.example.org/",
    )
    assert n.mail.password_file == (tmp_path / "secrets" / "smtp-password").resolve()
    assert n.webhooks == (
        WebhookConfig(
            "https://hooks.example.org/focalpoint",
            (tmp_path / "secrets" / "webhook").resolve(),
            frozenset({"emergency"}),
        ),
        WebhookConfig("http://127.0.0.1:9000/relay", (tmp_path / "secrets" / "relay").resolve()),
    )
    assert n.retry == RetryPolicy(initial_s=5.0, max_s=300.0, attempts=10, max_age_s=12 * 3600)


def test_webhooks_alone_are_enough(tmp_path: Path) -> None:
    n = load_config(write_config(tmp_path, _with(lambda n: n.pop("email")))).notifications
    assert n is not None
    assert n.mail is None
    assert len(n.webhooks) == 2


def _set(*keys: Any, value: object) -> Any:
    def edit(n: Any) -> None:
        for k in keys[:-1]:
            n = n[k]
        n[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set("email", "starttls", value=False), "notifications.email.starttls: expected true"),
        (_set("email", "from", value="not an address"), "notifications.email.from: expected an e-mail address"),
        (_set("console_url", value="focalpoint"), "notifications.console_url: expected the console's"),
        (_set("email", "port", value=0), "notifications.email.port: expected an integer in [1, 65535]"),
        (_set("retry", "attempts", value=0), "notifications.retry.attempts: expected an integer in [1, 100]"),
        (_set("email", "hots", value="x"), "notifications.email.hots: unknown key (did you mean host?)"),
        (lambda n: n.pop("console_url"), "notifications.console_url: required key is missing"),
        (lambda n: n["email"].pop("password_file"), "notifications.email.password_file: required key is missing"),
        (lambda n: (n.pop("email"), n.pop("webhooks")), "notifications: give email, webhooks, or both"),
        (
            _set("webhooks", 0, "url", value="http://hooks.example.org/"),
            "notifications.webhooks[0].url: expected an https://",
        ),
        (_set("webhooks", 1, "events", value=["deadline"]), "notifications.webhooks[1].events: expected a list of"),
        (lambda n: n["webhooks"][0].pop("secret_file"), "notifications.webhooks[0].secret_file: required key"),
        (_set("webhooks", 0, "secret", value="x"), "notifications.webhooks[0].secret: unknown key"),
        (_set("webhooks", value=[]), "notifications.webhooks: expected a list of endpoints"),
        (_set("recipients", value={}), "notifications.recipients: unknown key"),  # contacts live in accounts now
        (_set("retry", "max_seconds", value=1), "notifications.retry.max_seconds: must be ≥ initial_seconds"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, edit: Any, expected: str) -> None:
    assert expected in config_error(write_config(tmp_path, _with(edit)))


def _secrets(tmp_path: Path, mode: int = 0o600) -> None:
    d = tmp_path / "secrets"
    d.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("smtp-password", "pw\n"),
        ("webhook", "whsec_" + base64.b64encode(os.urandom(32)).decode() + "\n"),
        ("relay", "whsec_" + base64.b64encode(os.urandom(32)).decode() + "\n"),
    ):
        (d / name).write_text(text, encoding="utf-8")
        (d / name).chmod(mode)


class _People:
    async def notice_profile(self, user_id: str) -> None:
        return None

    async def address(self, user_id: str) -> None:
        return None


def test_the_node_queues_for_mail_and_webhooks_and_refuses_a_readable_secret_file(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, _with()))
    store = MemoryStore()
    _secrets(tmp_path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        _configured_notifier(config, store, _People(), lambda: 0)  # type: ignore[arg-type]
    _secrets(tmp_path)
    notifier, senders = _configured_notifier(config, store, _People(), lambda: 0)  # type: ignore[arg-type]
    assert isinstance(notifier, AllNotifiers)
    assert [type(n) for n in notifier.notifiers] == [LogNotifier, QueuedNotifier]
    assert sorted(senders) == ["email", "webhook"]
    assert isinstance(senders["email"]._channel, MailChannel)
    assert isinstance(senders["webhook"]._channel, WebhookChannel)
    plain = load_config(write_config(tmp_path / "plain", VALID))
    only_log, none = _configured_notifier(plain, store, _People(), lambda: 0)  # type: ignore[arg-type]
    assert (type(only_log), none) == (LogNotifier, {})


def test_a_malformed_webhook_secret_stops_the_node_without_showing_it(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, _with()))
    _secrets(tmp_path)
    (tmp_path / "secrets" / "relay").write_text("not-a-secret-value\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        _configured_notifier(config, MemoryStore(), _People(), lambda: 0)  # type: ignore[arg-type]
    assert "not-a-secret-value" not in str(e.value)


async def test_one_failing_notifier_does_not_keep_the_others_from_being_told() -> None:
    class Broken:
        async def notify(self, users: Any, event: str, *, case_ref: str = "") -> None:
            raise OSError("down")

    captured = CapturingNotifier()
    await AllNotifiers((Broken(), captured)).notify(["u-ann"], "break_glass", case_ref="")
    assert len(captured.sent) == 1
