"""The pure parts: choosing a page's language, the form tokens and the cross-site check."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from focalpoint.console.i18n import Catalogs, accept_language, choose_language
from focalpoint.console.security import cross_site, csrf_token, csrf_valid

OFFERED = ("en", "fr", "ar")


def test_the_cookie_wins_then_the_browser_then_the_default() -> None:
    assert choose_language("ar", "fr-FR,fr;q=0.9", OFFERED, "en") == "ar"
    assert choose_language("de", "fr-CH, en;q=0.5", OFFERED, "en") == "fr"
    assert choose_language(None, "de, en;q=0.1", OFFERED, "fr") == "en"
    assert choose_language(None, "de, it", OFFERED, "fr") == "fr"
    assert choose_language(None, "ar-MA;q=0.2, fr;q=0", OFFERED, "en") == "ar"  # q=0 is "not this"


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_an_offered_language(header: str) -> None:
    assert choose_language(None, header, OFFERED, "en") in OFFERED
    accept_language(header)


def test_every_offered_catalog_loads_and_arabic_is_right_to_left() -> None:
    catalogs = Catalogs(OFFERED, "en", "UTC")
    assert [catalogs.page(t).direction for t in OFFERED] == ["ltr", "ltr", "rtl"]
    assert catalogs.page("fr").gettext("Log in") == "Se connecter"
    assert catalogs.page("ar").gettext("Log in") == "تسجيل الدخول"
    assert catalogs.page("fr").number(1234.5) == "1\u202f234,5"


def test_a_form_token_is_bound_to_its_secret_purpose_and_value() -> None:
    token = csrf_token(b"k" * 32, "session", "abc")
    assert csrf_valid(b"k" * 32, "session", "abc", token)
    assert not csrf_valid(b"j" * 32, "session", "abc", token)
    assert not csrf_valid(b"k" * 32, "login", "abc", token)
    assert not csrf_valid(b"k" * 32, "session", "abd", token)
    assert not csrf_valid(b"k" * 32, "session", None, token)
    assert not csrf_valid(b"k" * 32, "session", "abc", "")


def test_cross_site_reads_sec_fetch_site_then_origin() -> None:
    ours = "https://console.example.org"
    assert not cross_site({"sec-fetch-site": "same-origin"}, ours)
    assert not cross_site({"sec-fetch-site": "none"}, ours)
    assert cross_site({"sec-fetch-site": "same-site", "origin": ours}, ours)
    assert cross_site({"sec-fetch-site": "cross-site"}, ours)
    assert not cross_site({"origin": "https://console.example.org"}, ours)
    assert cross_site({"origin": "https://evil.example"}, ours)
    assert cross_site({"origin": "null"}, ours)
    assert not cross_site({}, ours)
