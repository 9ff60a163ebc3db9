"""MkDocs hook: render the programme catalogue into the site.

The catalogue (``functions/chalicelib/data/programs.json``, or the file named by
``MANABI_PROGRAMS_FILE``) is the one source for programme facts. Nothing about a
programme (title, dates, capacity, sessions, childcare, price, contact) is typed
into the pages by hand; every page is a Jinja template rendered here with:

``catalogue``
    the validated :class:`chalicelib.programs.Catalogue`
``city``
    ``catalogue.city`` (name, office, contact details)
``programs``
    every programme, in catalogue order
``open_programs``
    programmes whose application window has not closed when the site is built
    (accepting now, or opening later); the application form offers these
``program``
    the first of ``open_programs``, else the last programme: the one the
    pages talk about when they need a single example (may be ``None`` only if
    the catalogue is empty)
``now``
    the time of the build (Japan time), to tell open programmes from coming ones
``api_base``
    ``extra.api_base`` from ``mkdocs.yml``
``priority_labels``
    Japanese names of the lottery's priority groups
``link(src_uri)``
    the URL of another page relative to the current one, for raw HTML
    (Markdown links are resolved by MkDocs itself)

and the filters ``jdate`` (2027年3月6日（土）), ``jdatetime`` (2027年1月31日（日）23:59,
in Japan time), ``yen`` (55,000円), ``num`` (55,000) and ``fee`` (無料 or 1,000円).

Mind Jinja's ``trim_blocks``: a line that *ends* with a block tag (``{% endif %}``)
loses its newline, which can glue it to the next Markdown line. End such lines
with text, or use a filter.

Jinja comments use ``{## ... ##}`` so that attr_list ids such as
``## 応募のしかた {#how-to-apply}`` are left alone. Undefined names fail the build.

The hook also guards the output, as warnings (``mkdocs build --strict`` fails on them):
headings without an explicit id (Japanese headings would get ``#_2``), mermaid
blocks (Material would fetch mermaid from unpkg.com) and resources loaded from
another origin. Finally it writes a Content-Security-Policy ``<meta>`` into every
page so that a browser refuses anything not served by this site or the API, and
names Material's search dialog.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jinja2
from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.livereload import LiveReloadServer
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

try:
    from chalicelib import programs as _programs
except ImportError:  # running mkdocs without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
    from chalicelib import programs as _programs

log = get_plugin_logger(__name__)

JST = dt.timezone(dt.timedelta(hours=9), "JST")
WEEKDAYS = "月火水木金土日"

_state: dict[str, Any] = {}


# Filters ---------------------------------------------------------------------


def jdate(value: dt.date | dt.datetime) -> str:
    """2027年3月6日（土）. A datetime is first converted to Japan time."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(JST).date()
    return f"{value.year}年{value.month}月{value.day}日（{WEEKDAYS[value.weekday()]}）"


def jdatetime(value: dt.datetime) -> str:
    """2027年1月31日（日）23:59 (9:00, not 09:00), in Japan time."""
    local = value.astimezone(JST)
    return f"{jdate(local.date())}{local.hour}:{local.minute:02d}"


def num(value: int) -> str:
    """55,000"""
    return f"{int(value):,}"


def yen(value: int) -> str:
    """55,000円"""
    return f"{num(value)}円"


def fee(value: int) -> str:
    """無料 for 0, else 1,000円"""
    return "無料" if int(value) == 0 else yen(value)


# Catalogue -------------------------------------------------------------------


def _catalogue_path() -> Path:
    return Path(os.environ.get("MANABI_PROGRAMS_FILE") or _programs.DEFAULT_CATALOGUE)


def _context(config: MkDocsConfig) -> dict[str, Any]:
    catalogue = _programs.load_catalogue(_catalogue_path())
    now = dt.datetime.now(dt.timezone.utc)
    open_programs = [p for p in catalogue.programs if p.application_closes_at > now]
    featured = (open_programs or list(catalogue.programs[-1:]) or [None])[0]
    return {
        "catalogue": catalogue,
        "city": catalogue.city,
        "programs": list(catalogue.programs),
        "open_programs": open_programs,
        "program": featured,
        "api_base": config.extra.get("api_base", "/api"),
        "priority_labels": getattr(_programs, "PRIORITY_GROUP_LABELS", {}),
        "now": now.astimezone(JST),
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        comment_start_string="{##",
        comment_end_string="##}",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(jdate=jdate, jdatetime=jdatetime, yen=yen, num=num, fee=fee)
    return env


def _render(source: str, *, name: str, **extra: Any) -> str:
    try:
        return _state["env"].from_string(source).render(_state["context"], **extra)
    except jinja2.TemplateError as exc:
        raise PluginError(f"{name}: {exc}") from exc


# Events ----------------------------------------------------------------------


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    try:
        _state["context"] = _context(config)
    except Exception as exc:  # pydantic.ValidationError, OSError, JSONDecodeError
        raise PluginError(f"programme catalogue {_catalogue_path()}: {exc}") from exc
    _state["env"] = _environment()
    # site_name, site_description and copyright may name the city or programme:
    # they are templates too, so the catalogue stays the only place for those names.
    for key in ("site_name", "site_description", "copyright"):
        if config[key]:
            config[key] = _render(config[key], name=f"mkdocs.yml {key}")
    return config


def on_env(env: jinja2.Environment, config: MkDocsConfig, files: Files) -> jinja2.Environment:
    """Theme templates (overrides/) see the same names as the pages."""
    env.globals["manabi"] = _state["context"]
    env.filters.update(jdate=jdate, jdatetime=jdatetime, yen=yen, num=num, fee=fee)
    return env


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def link(src_uri: str) -> str:
        """The URL of another page relative to this one, for links in raw HTML."""
        target = files.get_file_from_path(src_uri)
        if target is None:
            raise PluginError(f"{page.file.src_uri}: link() to a missing page {src_uri!r}")
        return target.url_relative_to(page.file)

    return _render(markdown, name=page.file.src_uri, link=link)


_HEADING = re.compile(r"<h[1-6]\b([^>]*)>", re.I)
_GOOD_ID = re.compile(r"""\bid=["'](?!_\d*["'])[^"']+["']""")
_EXTERNAL = re.compile(
    r"<(?:script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?"
    r"\b(?:src|href|srcset|data)\s*=\s*[\"']?\s*(?:https?:)?//",
    re.I,
)


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    where = page.file.src_uri
    for match in _HEADING.finditer(html):
        if _GOOD_ID.search(match.group(1)):
            continue
        log.warning("%s: heading without an explicit id: %s (add {#some-id})", where, match.group(0))
    if 'class="mermaid"' in html:
        log.warning(
            "%s: mermaid diagram found; Material would load mermaid from unpkg.com. "
            "Draw it in HTML/CSS instead (see how-it-works.md).",
            where,
        )
    for match in _EXTERNAL.finditer(html):
        log.warning("%s: resource from another origin: %s", where, match.group(0))
    return html


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S | re.I)


def content_security_policy(html: str, api_base: str) -> str:
    """A policy that allows only this site (and the API's origin, if it is elsewhere).

    Inline scripts are allowed by hash, so the policy needs no 'unsafe-inline' for scripts.
    """
    hashes = []
    for attrs, body in _INLINE_SCRIPT.findall(html):
        if "application/json" in attrs:  # data, never executed
            continue
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    connect = ["'self'"]
    parts = urlsplit(api_base)
    if parts.scheme in ("http", "https") and parts.netloc:
        connect.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src " + " ".join(["'self'", *sorted(set(hashes))]),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src " + " ".join(connect),
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


def _with_policy(output: str, config: MkDocsConfig, name: str) -> str:
    policy = content_security_policy(output, str(config.extra.get("api_base", "/api")))
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    head, sep, rest = output.partition('<meta charset="utf-8">')
    if not sep:
        raise PluginError(f"{name}: no <meta charset> to put the CSP after")
    return f"{head}{sep}\n    {meta}{rest}"


_SEARCH_DIALOG = '<div class="md-search" data-md-component="search" role="dialog">'


def _finish(output: str, config: MkDocsConfig, name: str) -> str:
    # Material's search dialog has no accessible name (axe: aria-dialog-name), and
    # partials/search.html has no block to add one through.
    output = output.replace(_SEARCH_DIALOG, _SEARCH_DIALOG[:-1] + ' aria-label="サイト内検索">', 1)
    return _with_policy(output, config, name)


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    return _finish(output, config, page.file.src_uri)


def on_post_template(output_content: str, template_name: str, config: MkDocsConfig) -> str:
    """Static templates such as 404.html get the same treatment as the pages."""
    if template_name.endswith(".html"):
        return _finish(output_content, config, template_name)
    return output_content


def on_serve(server: LiveReloadServer, config: MkDocsConfig, builder: Any) -> LiveReloadServer:
    server.watch(str(_catalogue_path()))
    server.watch(str(Path(__file__)))
    return server
