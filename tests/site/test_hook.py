"""site_hooks/programs.py on its own: formats, guards and the Content-Security-Policy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib.util
import logging
from types import ModuleType, SimpleNamespace

import pytest

from tests.site.conftest import REPO


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("manabi_site_hook", REPO / "site_hooks" / "programs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_page(src_uri: str = "example.md") -> SimpleNamespace:
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.date(2027, 3, 6), "2027年3月6日（土）"),
        (dt.date(2027, 2, 10), "2027年2月10日（水）"),
        (dt.date(2027, 1, 31), "2027年1月31日（日）"),
        # a datetime is read in Japan time: 15:00 UTC on the 30th is the 31st in Japan
        (dt.datetime(2027, 1, 30, 15, 0, tzinfo=dt.timezone.utc), "2027年1月31日（日）"),
    ],
)
def test_jdate(hook: ModuleType, value: dt.date, text: str) -> None:
    assert hook.jdate(value) == text


def test_jdatetime_is_in_japan_time_without_a_leading_zero(hook: ModuleType) -> None:
    utc = dt.datetime(2027, 1, 31, 14, 59, 59, tzinfo=dt.timezone.utc)
    assert hook.jdatetime(utc) == "2027年1月31日（日）23:59"
    morning = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert hook.jdatetime(morning) == "2026年11月16日（月）9:00"


def test_money(hook: ModuleType) -> None:
    assert hook.yen(55000) == "55,000円"
    assert hook.num(1234567) == "1,234,567"
    assert hook.fee(0) == "無料"
    assert hook.fee(500) == "500円"


@pytest.mark.parametrize(
    "html",
    ['<h2 id="_1">応募</h2>', '<h3 id="_">x</h3>', "<h2>応募</h2>", '<h4 class="x">y</h4>'],
)
def test_headings_without_explicit_ids_are_reported(hook: ModuleType, caplog, html: str) -> None:
    with caplog.at_level(logging.WARNING):
        hook.on_page_content(html, page=fake_page(), config=None, files=None)
    assert "heading without an explicit id" in caplog.text


def test_named_headings_pass(hook: ModuleType, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        html = '<h2 id="how-to-apply">応募</h2><h3 id="a_1">x</h3>'
        hook.on_page_content(html, page=fake_page(), config=None, files=None)
    assert caplog.text == ""


@pytest.mark.parametrize(
    "html",
    [
        '<pre class="mermaid"><code>graph LR</code></pre>',
        '<img src="https://example.com/a.png" alt="">',
        '<script src="//cdn.example.com/x.js"></script>',
        '<link rel="stylesheet" href="http://example.com/a.css">',
    ],
)
def test_outside_resources_are_reported(hook: ModuleType, caplog, html: str) -> None:
    with caplog.at_level(logging.WARNING):
        hook.on_page_content(html, page=fake_page(), config=None, files=None)
    assert caplog.text != ""


def test_policy_allows_inline_scripts_by_hash_only(hook: ModuleType) -> None:
    body = "__md_scope=new URL('.',location)"
    html = (
        f"<script>{body}</script>"
        '<script id="__config" type="application/json">{}</script>'
        '<script src="a.js"></script>'
    )
    policy = hook.content_security_policy(html, "/api")
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert policy.count("sha256-") == 1  # the JSON block is data, not script
    assert "connect-src 'self';" in policy


def test_policy_adds_an_api_on_another_origin(hook: ModuleType) -> None:
    policy = hook.content_security_policy("", "http://127.0.0.1:8000/api")
    assert "connect-src 'self' http://127.0.0.1:8000;" in policy
