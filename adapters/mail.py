"""E-mail notifications: a ``NotificationChannel`` (``focalpoint.node.ports``) over SMTP.

Officials are often away from the console when something concerning them happens (a deadline
at 75 %, a partner's new request, an emergency alert, someone breaking the glass on their case).
This adapter sends each queued e-mail (``focalpoint.node.notify``) as one plain-text message in its
recipient's language (en, fr, ar).

What a message may hold is fixed here and nowhere else: the event in words, the case reference
(an opaque identifier, meaningless outside the console) and the link to the console. Never a name,
never a field of a message, never the partner's contact: e-mail leaves the institution's control,
so everything else is read in the console after logging in. ``render`` is pure, and the tests
render every template in every language to prove it.

The queue row names the user, not the address: the address and language are looked up when the
message is sent (``Contacts``, which the node's accounts satisfy), so the queue never holds an
address and a changed address is used at once. Each send is one SMTP session: STARTTLS required
(the session fails rather than authenticating in the clear), AUTH with the configured user,
bounded timeouts. A failure raises ``TransportError`` (the queue retries it with backoff); a user
with no address any more, or a recipient the server refuses for good, raises ``UsageError`` (given
up). Nothing here logs an address or a case reference.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib

from focalpoint.errors import TransportError, UsageError
from focalpoint.ids import check_case_ref
from focalpoint.people.notices import event_type

__all__ = [
    "LANGUAGES",
    "TEMPLATES",
    "Contacts",
    "MailChannel",
    "MailConfig",
    "Recipient",
    "Rendered",
    "check_address",
    "render",
    "template_key",
]

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


class Contacts(Protocol):
    """Where a user's e-mail goes (the node's accounts answer it)."""

    async def address(self, user_id: str) -> Recipient | None:
        """The user's address and language; None when they have none (or are disabled)."""
        ...


@dataclass(frozen=True, slots=True)
class MailConfig:
    """The ``notifications.email`` section of the node configuration (validated there), with the
    section's ``console_url``."""

    host: str
    port: int
    username: str
    password_file: Path
    sender: str  # the From address
    console_url: str
    timeout_seconds: float = 30.0


# --- the templates ---------------------------------------------------------------------------


def template_key(event: str) -> str:
    """The template for ``event``: its type (``focalpoint.people.notices.event_type``), the detail
    after the kind (the partner's contact of an emergency alert, the anomaly rule) dropped; an
    unknown event gets the generic one."""
    return event_type(event)


# (subject, the event in words) per language and template. Nothing here has a placeholder.
TEMPLATES: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "en": {
        "break_glass": ("Emergency access to a case", "Someone used emergency access (break-glass) on a case."),
        "deadline:75%": ("A deadline is near", "A case assigned to you has used three quarters of its time."),
        "deadline:24h": ("A deadline is tomorrow", "A case assigned to you is due within 24 hours."),
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
        "emergency:alert": (
            "Emergency alert received",
            "A partner sent an emergency protection alert: act on it now in the console.",
        ),
        "request:new": ("New request from a partner", "A partner sent a new request on a case for your unit."),
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
        "deadline:24h": (
            "Une échéance tombe demain",
            "La réponse sur un dossier qui vous est attribué est due dans moins de 24 heures.",
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
        "emergency:alert": (
            "Alerte d'urgence reçue",
            "Un partenaire a envoyé une alerte de protection d'urgence : traitez-la dès maintenant dans la console.",
        ),
        "request:new": (
            "Nouvelle demande d'un partenaire",
            "Un partenaire a envoyé une nouvelle demande sur un dossier de votre service.",
        ),
        "other": ("Un point requiert votre attention", "Un événement vous concernant s'est produit dans focalpoint."),
    },
    "ar": {
        "break_glass": ("وصول طارئ إلى ملف", "استخدم أحدهم الوصول الطارئ (كسر الزجاج) على ملف."),
        "deadline:75%": ("اقتراب موعد نهائي", "استُهلك ثلاثة أرباع المهلة المحددة لملف مُسند إليك."),
        "deadline:24h": ("موعد نهائي غدًا", "يحل الموعد النهائي لملف مُسند إليك خلال 24 ساعة."),
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
        "emergency:alert": ("ورود تنبيه طارئ", "أرسل أحد الشركاء تنبيه حماية طارئًا: تعامل معه الآن في وحدة التحكم."),
        "request:new": ("طلب جديد من شريك", "أرسل أحد الشركاء طلبًا جديدًا بشأن ملف يخص وحدتك."),
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


class MailChannel:
    """A ``NotificationChannel`` ("email"): one queued e-mail, one SMTP session. ``tls_context``
    verifies the server's certificate (default: the system's trust store)."""

    name = "email"

    def __init__(
        self, config: MailConfig, password: str, *, contacts: Contacts, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._config = config
        self._password = password
        self._contacts = contacts
        self._tls = tls_context

    async def send(self, notice_id: str, destination: str, event: str, case_ref: str, created_ms: int) -> None:
        recipient = await self._contacts.address(destination)
        if recipient is None:
            raise UsageError("the user has no e-mail address (or is disabled) now: nothing to send")
        msg = self._message(recipient, event, case_ref)
        try:
            await self._send(msg)
        except aiosmtplib.SMTPAuthenticationError:  # the configuration is wrong: retried until it is fixed
            raise TransportError("the mail server refused the login: check notifications.email") from None
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as e:
            code = getattr(e, "code", 0)
            if isinstance(e, aiosmtplib.SMTPRecipientsRefused) or 500 <= code < 600:
                raise UsageError(f"the mail server refused the message for good ({code or 'recipient'})") from None
            raise TransportError(f"the mail server answered {code}: try again later") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            raise TransportError(f"the mail server could not be reached or failed ({type(e).__name__})") from None

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

    async def _send(self, msg: EmailMessage) -> None:
        """One SMTP session (STARTTLS required, then AUTH)."""
        cfg = self._config
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            start_tls=True,
            tls_context=self._tls,
            timeout=cfg.timeout_seconds,
        )
        async with smtp:
            await smtp.login(cfg.username, self._password)
            await smtp.send_message(msg)
