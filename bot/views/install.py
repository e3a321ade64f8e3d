"""The pages an installer's browser sees (several workspaces, OAuth): "Add to Slack", then installed or
not, in the browser's language (Accept-Language), else the app's default."""

from __future__ import annotations

from html import escape

from bot.i18n import t

# Bolt's OAuthFlow failure reasons, and what the installer is told (nothing was stored in any case).
FAILURES = {
    "access_denied": "install.access_denied",
    "invalid_browser": "install.invalid_state",
    "invalid_state": "install.invalid_state",
    "missing_code": "install.slack_refused",
    "invalid_code": "install.slack_refused",
    "storage_error": "install.not_saved",
}


def browser_language(accept_language: str | None, default: str) -> str:
    """The first of the browser's languages we speak (fr-CA,fr;q=0.9,en;q=0.8 -> fr)."""
    for part in (accept_language or "").split(","):
        code = part.split(";", 1)[0].strip().lower()[:2]
        if code in ("en", "fr"):
            return code
    return default


def _page(lang: str, title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}</style>"
        f"</head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def install_page(url: str, lang: str) -> str:
    return _page(
        lang,
        t("install.title", lang),
        f"<p>{escape(t('install.intro', lang))}</p>"
        f'<p><a href="{escape(url)}"><img alt="{escape(t("install.add", lang))}" height="40" width="139" '
        'src="https://platform.slack-edge.com/img/add_to_slack.png" '
        'srcset="https://platform.slack-edge.com/img/add_to_slack.png 1x, '
        'https://platform.slack-edge.com/img/add_to_slack@2x.png 2x"></a></p>',
    )


def installed_page(team: str, lang: str) -> str:
    return _page(
        lang, t("install.installed_title", lang), f"<p>{escape(t('install.installed', lang, team=team))}</p>"
    )


def failure_page(reason: str, install_path: str, lang: str) -> str:
    key = FAILURES.get(reason, "install.slack_refused")
    return _page(
        lang,
        t("install.failed_title", lang),
        f"<p>{escape(t(key, lang))}</p>"
        f'<p><a href="{escape(install_path)}">{escape(t("install.again", lang))}</a></p>',
    )
