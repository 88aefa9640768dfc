"""Languages: Arabic (right to left), French and English.

The portal's own words are translated with gettext (portal/translations); the names of
datasets, fields, codelists, institutions and the validation messages come from the catalog
and the policies, which carry their own ar/fr/en texts.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import current_app, request, session
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from services.languages import LANGUAGES

from portal.runtime import runtime

LANGUAGE_NAMES = {"ar": "العربية", "fr": "Français", "en": "English"}  # each in its own language
RIGHT_TO_LEFT = frozenset({"ar"})

STATUS_LABELS = {
    "submitted": _l("Submitted"),
    "validated": _l("Validated"),
    "rejected": _l("Rejected"),
    "approved": _l("Approved"),
    "accepted": _l("Accepted"),
}
MOVE_LABELS = {"approve": _l("Approve"), "accept": _l("Accept"), "reject": _l("Reject")}
# Actors that are the system itself rather than a person (services.ingest records "system:validation").
SYSTEM_ACTORS = {"system:validation": _l("automatic validation")}
FIELD_TYPE_LABELS = {
    "string": _l("Text"),
    "integer": _l("Whole number"),
    "decimal": _l("Number"),
    "date": _l("Date"),
    "code": _l("Code from a list"),
    "boolean": _l("Yes or no"),
}


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale and locale.language in LANGUAGES else LANGUAGES[0]


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or current_app.config["DEFAULT_LANGUAGE"]


def remember_language_choice() -> None:
    """?lang=xx on any page switches the language for the rest of the session."""
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang


def language_links() -> list[dict]:
    """The current page in each language (other query parameters kept)."""
    args = {k: v for k, v in request.args.items(multi=True) if k != "lang"}
    links = []
    for lang in LANGUAGES:
        query = urlencode([*args.items(), ("lang", lang)])
        href = f"{request.script_root}{request.path}?{query}"   # script_root: a sandbox's /sandbox/NAME
        links.append({"code": lang, "name": LANGUAGE_NAMES[lang], "href": href, "current": lang == current_language()})
    return links


def text_in(texts: dict | None, default: str = "") -> str:
    """One of the catalog's or the policies' {ar, fr, en} texts, in the reader's language."""
    if not texts:
        return default
    lang = current_language()
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), default)


def institution_name(code: str | None) -> str:
    if not code:
        return ""
    institution = runtime().policies.institutions.get(code)  # units are listed there too
    return text_in(institution.names if institution else None, code)


def role_name(code: str) -> str:
    role = runtime().policies.roles.get(code)
    return text_in(role.names if role else None, code)


def dataset_name(code: str) -> str:
    dataset = runtime().catalog.datasets.get(code)
    return text_in(dataset.names if dataset else None, code)


def field_label(dataset_code: str, field_name: str | None) -> str:
    dataset = runtime().catalog.datasets.get(dataset_code)
    if not field_name or dataset is None or field_name not in dataset.field_names:
        return field_name or ""
    return text_in(dataset.field(field_name).labels, field_name)


def actor_label(actor: str) -> str:
    return str(SYSTEM_ACTORS.get(actor, actor))


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def number(value) -> str:
    return format_decimal(value) if value is not None else ""


def bound(value) -> str:
    """A field's minimum or maximum as a reader writes it: localised date or number, or "today"."""
    if value == "today":
        return _("today")
    if isinstance(value, dt.date):
        return format_date(value, "medium")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_decimal(value)
    return str(value)


def when(value) -> str:
    return format_datetime(value, "medium") if value is not None else ""


def init_app(app) -> None:
    Babel(app, locale_selector=select_locale,
          timezone_selector=lambda: app.config["TIMEZONE"])
    app.before_request(remember_language_choice)

    @app.context_processor
    def _language_context():
        lang = current_language()
        return {
            "lang": lang,
            "text_dir": "rtl" if lang in RIGHT_TO_LEFT else "ltr",
            "language_links": language_links,
        }

    app.jinja_env.globals.update(
        text_in=text_in, institution_name=institution_name, role_name=role_name, dataset_name=dataset_name,
        field_label=field_label, status_label=status_label, actor_label=actor_label, move_label=lambda m: str(MOVE_LABELS.get(m, m)),
        field_type_label=lambda t: str(FIELD_TYPE_LABELS.get(t, t)), number=number, when=when, bound=bound,
    )
