"""The built site in Debian's chromium (Playwright): axe-core, the form's behaviour, no outside requests.

The site is served with a stand-in for ``POST /api/applications`` that answers
with the statuses a test queues, so the form's handling of each answer is checked
without the real API. axe-core is vendored in tests/site/vendor (MPL-2.0).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.site.conftest import BuiltSite

pytestmark = pytest.mark.browser

AXE = (Path(__file__).with_name("vendor") / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
PAGES = ["", "course/", "apply/", "after-applying/", "lottery/", "faq/", "how-it-works/", "sponsors/", "sponsor-dashboard/",
         "employers/", "privacy/", "accessibility/", "404.html"]  # fmt: skip

RECEIPT = "7K2QD-M9XPA"
ANSWERS = {
    201: {"application_id": "app_1", "receipt_number": RECEIPT, "status": "received"},
    409: {"error": {"code": "duplicate_application", "message": "このメールアドレスでは、すでにこの講座にお申し込みいただいています。"}},
    422: {
        "error": {"code": "invalid_input", "message": "入力内容を確認してください"},
        "errors": [
            {"field": "email", "message": "メールアドレスの形式が正しくありません"},
            {"field": "childcare_requests.0.children", "message": "託児を希望するお子さんの人数を1〜5人で入力してください"},
        ],
    },
    500: {"error": {"code": "internal_error", "message": "内部エラーが発生しました。"}},
}


# A published lottery, as GET /api/programs/{id}/lottery answers (the page renders it).
LOTTERY = {
    "program_id": "it-basics-2027-spring", "status": "published",
    "seed_sha256": "9" * 64, "committed_at": "2027-01-20T10:00:00+09:00",
    "seed": "a" * 64, "drawn_at": "2027-02-01T10:00:00+09:00", "published_at": "2027-02-01T11:00:00+09:00",
    "capacity": 1,
    "rules": {"priority_groups": [{"tier": 0, "group": "lives_or_works_in_city", "label": "市内にお住まいか、お勤めの方"}],
              "others_tier": 1, "waitlist_size": 1},
    "results": [
        {"rank": 1, "receipt_number": "ABCDE-12345", "tier": 0, "outcome": "selected", "waitlist_position": None},
        {"rank": 2, "receipt_number": "FGHJK-67890", "tier": 1, "outcome": "waitlisted", "waitlist_position": 1},
    ],
}


class FakeApi:
    def __init__(self) -> None:
        self.queue: list[int] = []
        self.requests: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def served(site: BuiltSite) -> Iterator[tuple[str, FakeApi]]:
    api = FakeApi()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/api/programs/") and self.path.endswith("/lottery"):
                data = json.dumps(LOTTERY, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            super().do_GET()

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            api.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(body or b"null")}
            )
            status = api.queue.pop(0) if api.queue else 201
            data = json.dumps(ANSWERS[status], ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site.root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A 360 px wide page that records console errors and every URL it requests."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="ja-JP")
    page = context.new_page()
    page.problems = []
    page.requested = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("request", lambda r: page.requested.append(r.url))
    yield page
    context.close()


@pytest.fixture(scope="module")
def axe_page(browser: Any) -> Iterator[Any]:
    """A page for axe: the CSP is bypassed so axe's script can be added to it."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="ja-JP", bypass_csp=True)
    yield context.new_page()
    context.close()


def axe_violations(page: Any, url: str, *, submit_empty: bool = False) -> list[dict[str, Any]]:
    page.goto(url)
    page.wait_for_load_state("load")
    # axe judges colours as they are at that instant: finish every transition first.
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; animation: none !important; }")
    if submit_empty:
        page.click("button.apply-submit")
        page.wait_for_selector("#apply-summary:not([hidden])")
    page.add_script_tag(content=AXE)
    return page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: "tag", values: tags}}))
            .violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(" "))}))""",
        AXE_TAGS,
    )


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing(axe_page: Any, served, path: str) -> None:
    base, _ = served
    assert axe_violations(axe_page, base + path) == []


def test_axe_finds_nothing_in_the_error_state(axe_page: Any, served) -> None:
    base, _ = served
    assert axe_violations(axe_page, base + "apply/", submit_empty=True) == []


@pytest.mark.parametrize("path", PAGES)
def test_pages_fit_a_phone_and_stay_on_this_origin(phone: Any, served, path: str) -> None:
    base, _ = served
    phone.goto(base + path)
    phone.wait_for_load_state("networkidle")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    assert [u for u in phone.requested if not u.startswith(base)] == []
    assert phone.problems == []  # includes Content-Security-Policy violations


def fill_valid(page: Any) -> None:
    page.fill("#name", "山田 花子")
    page.fill("#name-kana", "やまだ　はなこ")
    page.fill("#email", "hanako@example.jp")
    page.fill("#email-confirm", "hanako@example.jp")
    page.fill("#phone", "０９０－１２３４－５６７８")
    page.fill("#postal-code", "６３０－０１２３")
    page.fill("#address", "奈良県まなびリレー市1-2-3")
    page.check("#lives-or-works-in-city-yes")
    page.select_option("#children-count", "2")
    page.select_option("#child-age-1", "3")
    page.select_option("#child-age-2", "0")
    page.locator("select[data-session]").first.select_option("2")
    page.check("#work-styles-in-city")
    page.check("#work-styles-telework")
    page.check("#pc-environment-none")
    page.fill("#motivation", "子育てをしながら、ITの仕事に挑戦したいです。\n")
    page.check("#consent-privacy")


def test_empty_form_shows_a_focused_summary_linking_to_each_field(phone: Any, served) -> None:
    base, api = served
    phone.goto(base + "apply/")
    assert phone.is_hidden("#apply-nojs") and phone.is_visible("#apply-form")
    sent_before = len(api.requests)
    phone.click("button.apply-submit")
    assert phone.evaluate("document.activeElement.id") == "apply-summary"
    assert phone.inner_text("#apply-summary-title") == "入力内容を確認してください"
    links = phone.eval_on_selector_all(
        "#apply-summary-list a", "as => as.map(a => [a.getAttribute('href'), a.textContent])"
    )
    assert ["#name", "氏名を入力してください"] in links
    assert ["#consent-privacy", "個人情報の取り扱いへの同意が必要です"] in links
    for href, message in links:
        control = phone.locator(href)
        assert control.get_attribute("aria-invalid") == "true", href
        field = phone.locator(f".apply-field:has({href})").first
        assert message in field.locator(".apply-error").first.inner_text()
    phone.click("#apply-summary-list a[href='#phone']")
    assert phone.evaluate("document.activeElement.id") == "phone"
    assert len(api.requests) == sent_before  # nothing was sent
    assert phone.title().startswith("エラー：")


def test_a_retry_reuses_the_key_and_changed_answers_get_a_new_one(phone: Any, served) -> None:
    base, api = served
    phone.goto(base + "apply/")
    fill_valid(phone)
    api.requests.clear()
    api.queue[:] = [500, 422, 201]

    phone.click("button.apply-submit")
    phone.wait_for_selector("#apply-summary:not([hidden])")
    assert phone.inner_text("#apply-summary-title") == "送信できませんでした"
    assert phone.is_visible("#apply-summary-retry")
    assert phone.input_value("#name") == "山田 花子"  # the answers stay

    phone.click("button.apply-submit")  # same answers: a retry
    phone.wait_for_selector("select[aria-invalid=true]")
    assert phone.get_attribute("#email", "aria-invalid") == "true"
    assert phone.locator("select[data-session]").first.get_attribute("aria-invalid") == "true"

    phone.fill("#email", "hanako2@example.jp")
    phone.fill("#email-confirm", "hanako2@example.jp")
    phone.click("button.apply-submit")
    phone.wait_for_selector("#apply-done:not([hidden])")

    keys = [r["headers"].get("Idempotency-Key") for r in api.requests]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]
    first = api.requests[0]
    assert first["path"] == "/api/applications"
    assert first["headers"]["Content-Type"] == "application/json"
    assert set(first["body"]) == {
        "program_id", "name", "name_kana", "email", "phone", "postal_code", "address", "lives_or_works_in_city",
        "children", "childcare_requests", "work_styles", "pc_environment", "motivation", "consent_privacy",
        "website",
    }  # fmt: skip
    assert first["body"]["phone"] == "09012345678" and first["body"]["postal_code"] == "6300123"
    assert first["body"]["children"] == [{"age": 3}, {"age": 0}]
    assert first["body"]["childcare_requests"][0]["children"] == 2
    assert first["body"]["lives_or_works_in_city"] is True and first["body"]["website"] == ""


def test_success_shows_the_receipt_number_focused(phone: Any, served) -> None:
    base, api = served
    phone.goto(base + "apply/")
    fill_valid(phone)
    api.queue[:] = [201]
    phone.click("button.apply-submit")
    phone.wait_for_selector("#apply-done:not([hidden])")
    assert phone.evaluate("document.activeElement.id") == "apply-done"
    assert phone.inner_text("#apply-receipt-number") == RECEIPT
    assert phone.is_hidden("#apply-form")
    assert phone.inner_text("#apply-done-results").endswith("）")  # the programme's results date


def test_a_refusal_shows_the_api_message(phone: Any, served) -> None:
    base, api = served
    phone.goto(base + "apply/")
    fill_valid(phone)
    api.queue[:] = [409]
    phone.click("button.apply-submit")
    phone.wait_for_selector("#apply-summary:not([hidden])")
    assert "すでにこの講座にお申し込みいただいています" in phone.inner_text("#apply-summary-list")
    assert phone.is_visible("#apply-summary-help")


def test_motivation_counter_counts_code_points(phone: Any, served) -> None:
    from playwright.sync_api import expect

    base, _ = served
    phone.goto(base + "apply/")
    phone.fill("#motivation", "𠮷" * 10 + "\r\n" + "あ" * 5)
    assert phone.inner_text("#motivation-count") == "あと784文字"
    phone.fill("#motivation", "あ" * 803)
    assert phone.inner_text("#motivation-count") == "3文字多すぎます"
    # screen readers hear it once typing pauses (polled from Playwright: the CSP forbids eval)
    expect(phone.locator("#motivation-count-live")).to_have_text("3文字多すぎます", timeout=3000)


def test_the_lottery_page_shows_the_published_result_and_finds_a_receipt(phone: Any, served) -> None:
    base, _ = served
    phone.goto(base + "lottery/")
    table = phone.locator("table.lottery-results")
    table.wait_for()
    assert table.locator("tbody tr").count() == 2
    assert LOTTERY["seed"] in phone.inner_text(".lottery")
    phone.fill("input[id^=lottery-find-]", "fghjk-67890")
    assert phone.inner_text(".lottery-found") == "FGHJK-67890：補欠 1 番目"
