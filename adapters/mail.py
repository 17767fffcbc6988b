"""E-mail notifications: the node's ``Notifier`` port (``focalpoint.node.ports``) over SMTP.

Officials are often away from the console when something concerning them happens (a deadline
at 75 %, an emergency alert nobody acknowledged, someone breaking the glass on their case). This
adapter sends each user who has an address one plain-text message in their language (en, fr, ar).

What a message may hold is fixed here and nowhere else: the event in words, the case reference
(an opaque identifier, meaningless outside the console) and the link to the console. Never a name,
never a field of a message, never the partner's contact: e-mail leaves the institution's control,
so everything else is read in the console after logging in. ``render`` is pure, and the tests
render every template in every language to prove it.

Sending is in the background (the caller, e.g. the deadline scan, must not wait on a mail server):
one SMTP session a notification, STARTTLS required (the session fails rather than authenticating in
the clear), AUTH with the configured user, bounded timeouts, and a bounded number of attempts with
exponential backoff. Failures are logged with the event's template name and how many messages,
never an address or a case reference. There is no durable queue: a notification still being retried
when the node stops is lost (the console still shows the deadline or the alert).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import structlog

from focalpoint.ids import check_case_ref

__all__ = [
    "LANGUAGES",
    "TEMPLATES",
    "MailConfig",
    "MailNotifier",
    "Recipient",
    "Rendered",
    "check_address",
    "render",
    "template_key",
]

log = structlog.get_logger("focalpoint.notify.mail")

LANGUAGES = ("en", "fr", "ar")

# A deliberately plain shape (local@domain.tld, no spaces, no display name): the address goes into
# a header, so anything that could carry a second header or recipient is refused.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+\Z")


def check_address(address: object) -> str | None:
    """None if ``address`` is an e-mail address of the plain shape accepted, else what is wrong
    (never the value)."""
    if not isinstance(address, str) or len(address) > 254 or not _ADDRESS.match(address):
        return "an e-mail address such as duty.officer@example.org"
    return None


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    language: str = "en"


@dataclass(frozen=True, slots=True)
class MailConfig:
    """The ``notifications.email`` section of the node configuration (validated there)."""

    host: str
    port: int
    username: str
    password_file: Path
    sender: str  # the From address
    console_url: str
    # Each user's address and language (user id → Recipient); users without one get no e-mail.
    recipients: Mapping[str, Recipient] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    attempts: int = 5
    retry_initial_seconds: float = 5.0
    retry_max_seconds: float = 300.0


# --- the templates ---------------------------------------------------------------------------

# Every event the node emits, mapped to its template ("deadline:reminder-L2" → "deadline:reminder").
_EVENT_TEMPLATES = {
    "break_glass": "break_glass",
    "deadline:75%": "deadline:75%",
    "deadline:overdue": "deadline:overdue",
    "deadline:reminder-L1": "deadline:reminder",
    "deadline:reminder-L2": "deadline:reminder",
    "deadline:reminder-L3": "deadline:reminder",
    "guardian:12h": "guardian:12h",
    "guardian:20h": "guardian:20h",
    "guardian:breach": "guardian:breach",
    "guardian:daily": "guardian:daily",
    "handover:overdue": "handover:overdue",
}


def template_key(event: str) -> str:
    """The template for ``event``; the detail after the kind (the partner's contact of an
    emergency alert, the anomaly rule) is dropped, and an unknown event gets the generic one."""
    if event in _EVENT_TEMPLATES:
        return _EVENT_TEMPLATES[event]
    if event.startswith("emergency:unacknowledged"):
        return "emergency:unacknowledged"
    if event.startswith("anomaly:"):
        return "anomaly"
    return "other"


# (subject, the event in words) per language and template. Nothing here has a placeholder.
TEMPLATES: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "en": {
        "break_glass": ("Emergency access to a case", "Someone used emergency access (break-glass) on a case."),
        "deadline:75%": ("A deadline is near", "A case assigned to you has used three quarters of its time."),
        "deadline:overdue": ("A deadline has passed", "A case's deadline has passed without an answer."),
        "deadline:reminder": ("Reminder sent to a partner", "A partner has not answered in time; a reminder was sent."),
        "guardian:12h": ("Guardian appointment: 12 hours", "A guardian must be appointed; 12 hours have passed."),
        "guardian:20h": ("Guardian appointment: 20 hours", "A guardian must be appointed; 20 hours have passed."),
        "guardian:breach": ("Guardian appointment overdue", "The time to appoint a guardian has run out."),
        "guardian:daily": ("Still no guardian", "A child still has no guardian appointed."),
        "handover:overdue": (
            "Handover not confirmed",
            "A child's handover to a partner has not been confirmed in time.",
        ),
        "emergency:unacknowledged": (
            "Emergency alert not acknowledged",
            "An emergency alert was not acknowledged by the partner in time: call their 24/7 contact point.",
        ),
        "anomaly": ("Unusual access to case files", "Access to case files that needs a review was detected."),
        "other": ("Something needs your attention", "Something concerning you happened in focalpoint."),
    },
    "fr": {
        "break_glass": (
            "Accès d'urgence à un dossier",
            "Quelqu'un a utilisé l'accès d'urgence (bris de glace) sur un dossier.",
        ),
        "deadline:75%": (
            "Une échéance approche",
            "Un dossier qui vous est attribué a utilisé les trois quarts de son délai.",
        ),
        "deadline:overdue": ("Une échéance est dépassée", "L'échéance d'un dossier est dépassée sans réponse."),
        "deadline:reminder": (
            "Relance envoyée à un partenaire",
            "Un partenaire n'a pas répondu à temps ; une relance a été envoyée.",
        ),
        "guardian:12h": (
            "Désignation d'un tuteur : 12 heures",
            "Un tuteur doit être désigné ; 12 heures sont écoulées.",
        ),
        "guardian:20h": (
            "Désignation d'un tuteur : 20 heures",
            "Un tuteur doit être désigné ; 20 heures sont écoulées.",
        ),
        "guardian:breach": ("Désignation d'un tuteur en retard", "Le délai pour désigner un tuteur est écoulé."),
        "guardian:daily": ("Toujours aucun tuteur", "Aucun tuteur n'a encore été désigné pour un enfant."),
        "handover:overdue": (
            "Remise non confirmée",
            "La remise d'un enfant à un partenaire n'a pas été confirmée à temps.",
        ),
        "emergency:unacknowledged": (
            "Alerte d'urgence sans accusé de réception",
            "Le partenaire n'a pas accusé réception d'une alerte d'urgence à temps : appelez son contact 24 h/24.",
        ),
        "anomaly": ("Accès inhabituel à des dossiers", "Un accès à des dossiers qui doit être examiné a été détecté."),
        "other": ("Un point requiert votre attention", "Un événement vous concernant s'est produit dans focalpoint."),
    },
    "ar": {
        "break_glass": ("وصول طارئ إلى ملف", "استخدم أحدهم الوصول الطارئ (كسر الزجاج) على ملف."),
        "deadline:75%": ("اقتراب موعد نهائي", "استُهلك ثلاثة أرباع المهلة المحددة لملف مُسند إليك."),
        "deadline:overdue": ("انقضاء موعد نهائي", "انقضى الموعد النهائي لملف دون رد."),
        "deadline:reminder": ("إرسال تذكير إلى شريك", "لم يرد أحد الشركاء في الوقت المحدد؛ أُرسل تذكير."),
        "guardian:12h": ("تعيين وصي: 12 ساعة", "يجب تعيين وصي؛ مضت 12 ساعة."),
        "guardian:20h": ("تعيين وصي: 20 ساعة", "يجب تعيين وصي؛ مضت 20 ساعة."),
        "guardian:breach": ("تأخر تعيين وصي", "انتهت المهلة المحددة لتعيين وصي."),
        "guardian:daily": ("لم يُعيَّن وصي بعد", "لم يُعيَّن وصي لطفل حتى الآن."),
        "handover:overdue": ("لم يُؤكَّد التسليم", "لم يُؤكَّد تسليم طفل إلى شريك في الوقت المحدد."),
        "emergency:unacknowledged": (
            "تنبيه طارئ دون إقرار بالاستلام",
            "لم يُقر الشريك باستلام تنبيه طارئ في الوقت المحدد: اتصل بنقطة الاتصال لديه على مدار الساعة.",
        ),
        "anomaly": ("وصول غير معتاد إلى الملفات", "رُصد وصول إلى الملفات يستدعي المراجعة."),
        "other": ("أمر يستدعي انتباهك", "وقع حدث يخصك في focalpoint."),
    },
}

# The fixed lines around the event: the reference's label, the link's label, and the closing line.
_FRAME: Mapping[str, tuple[str, str, str]] = {
    "en": (
        "Case reference:",
        "Open the console:",
        "This message holds no case details; read them in the console after logging in.",
    ),
    "fr": (
        "Référence du dossier :",
        "Ouvrir la console :",
        "Ce message ne contient aucun détail du dossier ; consultez-les dans la console après connexion.",
    ),
    "ar": (
        "مرجع الملف:",
        "افتح وحدة التحكم:",
        "لا تتضمن هذه الرسالة أي تفاصيل عن الملف؛ اطّلع عليها في وحدة التحكم بعد تسجيل الدخول.",
    ),
}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str


def render(event: str, language: str, *, case_ref: str, console_url: str) -> Rendered:
    """The message for ``event`` in ``language`` (English when not one of LANGUAGES): the event in
    words, the case reference (only a well-formed one; anything else is left out) and the link."""
    lang = language if language in TEMPLATES else "en"
    subject, words = TEMPLATES[lang][template_key(event)]
    ref_label, link_label, closing = _FRAME[lang]
    lines = [words, ""]
    if case_ref and check_case_ref(case_ref) is None:
        lines.append(f"{ref_label} {case_ref}")
    lines += [f"{link_label} {console_url}", "", closing, ""]
    return Rendered(subject=f"[focalpoint] {subject}", body="\n".join(lines))


# --- sending -----------------------------------------------------------------------------------

Spawn = Callable[[Coroutine[Any, Any, object]], None]


class MailNotifier:
    """A ``Notifier``: one e-mail per user with an address, sent in the background.

    ``spawn`` runs the sending (the node passes its own, so stopping the node cancels it); without
    one the notifier keeps its tasks and ``drain`` waits for them. ``tls_context`` verifies the
    server's certificate (default: the system's trust store)."""

    def __init__(
        self,
        config: MailConfig,
        password: str,
        *,
        spawn: Spawn | None = None,
        tls_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._password = password
        self._spawn = spawn or self._own_spawn
        self._tls = tls_context
        self._sleep = sleep
        self._tasks: set[asyncio.Task[object]] = set()

    async def notify(self, users: Sequence[str], event: str, *, case_ref: str = "") -> None:
        messages = [self._message(r, event, case_ref) for u in users if (r := self._config.recipients.get(u))]
        if messages:
            self._spawn(self._deliver(template_key(event), messages))

    async def drain(self) -> None:
        """Wait for the notifier's own background sending (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _own_spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _message(self, recipient: Recipient, event: str, case_ref: str) -> EmailMessage:
        rendered = render(event, recipient.language, case_ref=case_ref, console_url=self._config.console_url)
        msg = EmailMessage()
        msg["From"] = self._config.sender
        msg["To"] = recipient.email
        msg["Subject"] = rendered.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self._config.sender.rsplit("@", 1)[1])
        msg["Content-Language"] = recipient.language
        msg.set_content(rendered.body)
        return msg

    async def _deliver(self, name: str, messages: list[EmailMessage]) -> None:
        """Send ``messages`` in one session, retried with backoff; only what failed is retried."""
        cfg = self._config
        pending = messages
        delay = cfg.retry_initial_seconds
        for attempt in range(1, cfg.attempts + 1):
            try:
                pending = await self._send(pending)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
                reason = type(e).__name__
            else:
                if not pending:
                    log.info("mail_sent", notification=name, count=len(messages))
                    return
                reason = "recipients refused"
            log.warning("mail_failed", notification=name, count=len(pending), attempt=attempt, reason=reason)
            if attempt < cfg.attempts:
                await self._sleep(delay)
                delay = min(delay * 2, cfg.retry_max_seconds)
        log.error("mail_given_up", notification=name, count=len(pending), attempts=cfg.attempts)

    async def _send(self, messages: list[EmailMessage]) -> list[EmailMessage]:
        """One SMTP session (STARTTLS required, then AUTH); the messages a server refused."""
        cfg = self._config
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            start_tls=True,
            tls_context=self._tls,
            timeout=cfg.timeout_seconds,
        )
        refused: list[EmailMessage] = []
        async with smtp:
            await smtp.login(cfg.username, self._password)
            for msg in messages:
                try:
                    await smtp.send_message(msg)
                except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException):
                    refused.append(msg)
        return refused
