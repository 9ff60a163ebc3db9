"""A citizen applies through the real form, against the real local stack (``manabi dev``).

Debian's chromium at phone size (360 px, ja-JP) fills in the application form
served by the local stack; the form posts to the stack's real API (Chalice on
moto and py-evm), and the result is checked through the staff route. Nothing
here stands in for the API.

The messages the form shows are compared with the API's own
(``chalicelib.applications.form.MESSAGES``): the form must say what the API
would say. Every test also records every request the page makes and checks
that none leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, Response, expect

from chalicelib.applications.form import MESSAGES

pytestmark = [pytest.mark.browser, pytest.mark.fullflow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Crockford's base32 without I, L, O, U, shown as XXXXX-XXXXX
RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


# -- helpers ------------------------------------------------------------------------------------


def api_get(url: str) -> Any:
    """GET a JSON document from the local stack (loopback only)."""
    assert urlsplit(url).hostname == "127.0.0.1", url
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback URL checked above
        return json.loads(response.read())


def eventually(check: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy; the last result is returned either way.

    For state the stack changes in the background (the mail job); bounded by ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def unique_email(label: str) -> str:
    return f"{label}+{uuid.uuid4().hex[:12]}@example.jp"


def shot(page: Page, name: str) -> None:
    """What the citizen sees at this moment (the fixture keeps the full page at the end)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled")


def failed(into: list[str]) -> Callable[[Request], None]:
    """A requestfailed handler; a request cut short by the next navigation (ERR_ABORTED) is no failure."""

    def record(request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":
            into.append(f"{request.failure} {request.url}")

    return record


@dataclass
class Form:
    """The apply page of the live stack, with what the browser requested and any script errors."""

    page: Page
    stack: Any
    program: dict[str, Any]
    requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # site files that did not load

    @property
    def program_id(self) -> str:
        return str(self.program["id"])

    def open(self) -> None:
        self.page.goto(self.stack.url + "/apply/")
        expect(self.page.locator("#apply-form")).to_be_visible()  # the script ran
        expect(self.page.locator("#apply-nojs")).to_be_hidden()

    def childcare_select(self) -> str:
        session = next(s for s in self.program["sessions"] if s["childcare"])
        return f"#childcare-{self.program_id}-{session['id']}"

    def fill_valid(self, email: str) -> None:
        """Everything a citizen answers, typed the way people type on a Japanese phone."""
        page = self.page
        page.check(f"#program-{self.program_id}")
        page.fill("#name", "山田　花子")
        page.fill("#name-kana", "ﾔﾏﾀﾞ ﾊﾅｺ")  # half-width katakana
        page.fill("#email", email)
        page.fill("#email-confirm", email)
        page.fill("#phone", "０９０－１２３４－５６７８")  # full-width digits and hyphens
        page.fill("#postal-code", "〒６３０－０１２３")
        page.fill("#address", "奈良県まなびリレー市北町1-2-3　コーポ北101")
        page.check("#lives-or-works-in-city-yes")
        page.select_option("#children-count", "2")
        page.select_option("#child-age-1", "3")
        page.select_option("#child-age-2", "0")
        page.select_option(self.childcare_select(), "2")
        page.check("#work-styles-in-city")
        page.check("#work-styles-telework")
        page.check("#pc-environment-none")
        page.fill("#motivation", "子育てをしながら、ITの仕事に挑戦したいです。\n市内の会社で働きたいと考えています。")
        page.check("#consent-privacy")

    def submit(self) -> Any:
        """Press the submit button; returns the API's response (the form must send)."""
        with self.page.expect_response(
            lambda r: urlsplit(r.url).path == "/api/applications" and r.request.method == "POST"
        ) as answer:
            self.page.click("button.apply-submit")
        return answer.value

    def summary_links(self) -> list[tuple[str, str]]:
        return [
            (str(href), str(text))
            for href, text in self.page.eval_on_selector_all(
                "#apply-summary-list a", "as => as.map(a => [a.getAttribute('href'), a.textContent])"
            )
        ]

    def applications(self) -> list[dict[str, Any]]:
        """The staff view of this programme's applications (the local stack lets staff through)."""
        return list(api_get(f"{self.stack.api}/admin/programs/{self.program_id}/applications")["applications"])

    def check_requests(self) -> None:
        """No request left 127.0.0.1, every file of the site loaded, no script failed."""
        assert self.requests, "no requests were recorded"
        outside = [u for u in self.requests if urlsplit(u).scheme not in ("data", "blob")
                   and urlsplit(u).hostname != "127.0.0.1"]
        assert outside == [], f"requests left 127.0.0.1: {outside}"
        # (a file missing while the page loaded: is another `manabi dev` rebuilding build/site?)
        assert self.broken == [], f"site files did not load: {self.broken}"
        assert self.script_errors == []


@pytest.fixture
def form(phone_page: Page, live_stack: Any) -> Form:
    programs = api_get(live_stack.api + "/programs")["programs"]
    program = next(p for p in programs if p["accepting_applications"])
    result = Form(page=phone_page, stack=live_stack, program=program)

    def record(request: Request) -> None:
        result.requests.append(request.url)

    def loaded(response: Response) -> None:
        if response.status >= 400 and not urlsplit(response.url).path.startswith("/api/"):
            result.broken.append(f"{response.status} {response.url}")

    phone_page.on("request", record)
    phone_page.on("response", loaded)
    phone_page.on("requestfailed", failed(result.broken))
    phone_page.on("pageerror", lambda error: result.script_errors.append(str(error)))
    result.open()
    return result


def inline_errors_for(page: Page, control_id: str) -> list[str]:
    """Text of the visible error messages the control is described by (on itself or its fieldset)."""
    return list(page.evaluate(
        """(id) => {
            const control = document.getElementById(id);
            const owners = [control, control.closest("fieldset")].filter(Boolean);
            const ids = owners.flatMap((o) => (o.getAttribute("aria-describedby") || "").split(/\\s+/));
            return ids.map((i) => document.getElementById(i))
                .filter((el) => el && el.classList.contains("apply-error") && !el.hidden)
                .map((el) => el.textContent);
        }""",
        control_id,
    ))


LABEL_IN_SIGHT = """(id) => {
    const field = document.getElementById(id).closest(".apply-field");
    const label = field.querySelector(".apply-label, label").getBoundingClientRect();
    const header = document.querySelector(".md-header").getBoundingClientRect();
    return label.top >= header.bottom - 1 && label.bottom <= window.innerHeight;
}"""


def invalid_controls(page: Page) -> list[str]:
    return list(page.eval_on_selector_all("#apply-form [aria-invalid='true']", "cs => cs.map(c => c.id)"))


def check_error_summary(form: Form, expected: list[tuple[str, str]]) -> None:
    """The summary is shown and focused, lists ``expected`` (href, message) in form order, and
    each link moves focus to its field, which shows the same words inline and is aria-invalid."""
    page = form.page
    summary = page.locator("#apply-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page.locator("#apply-summary-title")).to_have_text("入力内容を確認してください")
    assert page.title().startswith("エラー：")
    assert form.summary_links() == expected

    for href, message in expected:
        control_id = href.removeprefix("#")
        assert page.get_attribute(href, "aria-invalid") == "true", href
        # the inline message, linked to the control with aria-describedby, in the same words
        assert inline_errors_for(page, control_id) == ["エラー：" + message], href
        page.click(f"#apply-summary-list a[href='{href}']")
        expect(page.locator(href)).to_be_focused()
        expect(page.locator(href)).to_be_in_viewport()
        # the field's label or legend shows too, below the sticky header, not under it
        page.wait_for_function(LABEL_IN_SIGHT, arg=control_id, timeout=3000)
    # no other field is marked invalid
    field_of = "(ids) => ids.map((id) => document.getElementById(id).closest('.apply-field').dataset.field)"
    linked = [href.removeprefix("#") for href, _ in expected]
    assert set(page.evaluate(field_of, invalid_controls(page))) == set(page.evaluate(field_of, linked))


# -- the tests ----------------------------------------------------------------------------------


def test_a_citizen_applies_and_the_application_is_stored(form: Form) -> None:
    page, email = form.page, unique_email("hanako")
    form.fill_valid(email)
    response = form.submit()
    assert response.status == 201, response.text()
    sent = response.request
    assert sent.header_value("content-type") == "application/json"
    assert re.fullmatch(r"[0-9a-f-]{36}", sent.header_value("idempotency-key") or "")
    body = sent.post_data_json
    assert body["phone"] == "09012345678" and body["postal_code"] == "6300123"  # normalised in the browser

    done = page.locator("#apply-done")
    expect(done).to_be_visible()
    expect(done).to_be_focused()
    expect(page.locator("#apply-done-title")).to_have_text("応募を受け付けました")
    receipt = page.inner_text("#apply-receipt-number")
    assert RECEIPT.fullmatch(receipt), receipt
    assert receipt == response.json()["receipt_number"]
    expect(page.locator("#apply-form")).to_be_hidden()
    expect(page.locator("#apply-summary")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "citizen-form-success")

    # Stored, normalised by the API, with the confirmation mail sent
    def stored() -> dict[str, Any] | None:
        found = [a for a in form.applications() if a["receipt_number"] == receipt]
        return found[0] if found and [m["status"] for m in found[0]["mail"]] == ["sent"] else None

    application = eventually(stored)
    assert application, [a for a in form.applications() if a["receipt_number"] == receipt]
    assert application["email"] == email
    assert application["status"] == "received"
    assert application["name"] == "山田 花子"
    assert application["name_kana"] == "ヤマダ ハナコ"  # half-width katakana, NFKC
    assert application["phone"] == "09012345678"
    assert application["postal_code"] == "630-0123"
    assert application["lives_or_works_in_city"] is True
    assert application["children"] == [{"age": 3}, {"age": 0}]
    session = next(s for s in form.program["sessions"] if s["childcare"])
    assert application["childcare_requests"] == [{"session_id": session["id"], "children": 2}]
    assert application["work_styles"] == ["in_city", "telework"]
    assert application["pc_environment"] == "none"
    assert application["motivation"].startswith("子育てをしながら")
    assert application["consent_privacy"] is True
    assert [(m["template"], m["status"]) for m in application["mail"]] == [("received", "sent")]

    assert any(urlsplit(u).path == "/api/applications" for u in form.requests)
    form.check_requests()


def test_an_empty_form_shows_a_focused_summary_linking_to_each_field(form: Form) -> None:
    page = form.page
    page.click("button.apply-submit")
    expected = [
        ("#name", MESSAGES["name"]["required"]),
        ("#name-kana", MESSAGES["name_kana"]["required"]),
        ("#email", MESSAGES["email"]["required"]),
        ("#phone", MESSAGES["phone"]["required"]),
        ("#postal-code", MESSAGES["postal_code"]["required"]),
        ("#address", MESSAGES["address"]["required"]),
        ("#lives-or-works-in-city-yes", MESSAGES["lives_or_works_in_city"]["required"]),
        ("#work-styles-in-city", MESSAGES["work_styles"]["required"]),
        ("#pc-environment-own", MESSAGES["pc_environment"]["required"]),
        ("#motivation", MESSAGES["motivation"]["required"]),
        ("#consent-privacy", MESSAGES["consent_privacy"]["required"]),
    ]
    if not page.is_checked(f"#program-{form.program_id}"):  # several programmes: none is chosen yet
        expected.insert(0, (page.eval_on_selector("input[name=program_id]", "i => '#' + i.id"),
                            MESSAGES["program_id"]["required"]))
    expect(page.locator("#apply-summary")).to_be_in_viewport()
    shot(page, "citizen-form-error-summary")
    check_error_summary(form, expected)
    assert not any(urlsplit(u).path.startswith("/api/") for u in form.requests)  # nothing was sent
    form.check_requests()


def test_wrong_answers_are_listed_and_a_corrected_form_goes_through(form: Form) -> None:
    page = form.page
    form.fill_valid(unique_email("wrong"))
    page.fill("#name-kana", "Yamada Hanako")
    page.fill("#email", "hanako@example")
    page.fill("#email-confirm", "hanako@example.jp")
    page.fill("#phone", "12-3456-7890")
    page.fill("#postal-code", "630-012")
    page.select_option("#child-age-2", "")
    page.click("button.apply-submit")
    check_error_summary(form, [
        ("#name-kana", MESSAGES["name_kana"]["invalid"]),
        ("#email", MESSAGES["email"]["invalid"]),
        ("#email-confirm", "確認用のメールアドレスが一致しません"),
        ("#phone", MESSAGES["phone"]["invalid"]),
        ("#postal-code", MESSAGES["postal_code"]["invalid"]),
        ("#child-age-2", "2人目のお子さんの年齢を選んでください"),
    ])
    for valid in ("#name", "#address", "#child-age-1", "#motivation", "#consent-privacy"):
        assert page.get_attribute(valid, "aria-invalid") is None, valid
    assert not any(urlsplit(u).path.startswith("/api/") for u in form.requests)

    # Corrected, the same page sends, and the errors are gone
    email = unique_email("corrected")
    page.fill("#name-kana", "やまだ　はなこ")
    page.fill("#email", email)
    page.fill("#email-confirm", email)
    page.fill("#phone", "0743-00-0000")
    page.fill("#postal-code", "630-0123")
    page.select_option("#child-age-2", "5")
    assert form.submit().status == 201
    expect(page.locator("#apply-done")).to_be_focused()
    expect(page.locator("#apply-summary")).to_be_hidden()
    assert invalid_controls(page) == []
    assert page.title().startswith("応募を受け付けました")
    form.check_requests()


def test_the_same_email_twice_gets_the_api_refusal_and_keeps_the_answers(form: Form) -> None:
    page, email = form.page, unique_email("twice")
    form.fill_valid(email)
    assert form.submit().status == 201
    expect(page.locator("#apply-done")).to_be_visible()

    form.open()
    form.fill_valid(email)
    response = form.submit()
    assert response.status == 409
    assert response.json()["error"]["code"] == "duplicate_application"
    api_message = response.json()["error"]["message"]

    summary = page.locator("#apply-summary")
    expect(summary).to_be_focused()
    expect(page.locator("#apply-summary-title")).to_have_text("応募を受け付けられませんでした")
    expect(page.locator("#apply-summary-list li")).to_have_text([api_message])
    assert JAPANESE.search(api_message) and "メールアドレス" in api_message  # for citizens, as the API says it
    expect(page.locator("#apply-summary-help")).to_be_visible()  # whom to ask
    # the refusal is about the address: the summary links to it, and it says so there too
    page.locator("#apply-summary-list a").click()
    expect(page.locator("#email")).to_be_focused()
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    shot(page, "citizen-form-duplicate")

    # the answers are still there, exactly as typed
    expect(page.locator("#apply-form")).to_be_visible()
    for selector, typed in {
        "#name": "山田　花子", "#name-kana": "ﾔﾏﾀﾞ ﾊﾅｺ", "#email": email, "#email-confirm": email,
        "#phone": "０９０－１２３４－５６７８", "#postal-code": "〒６３０－０１２３", "#children-count": "2",
        "#child-age-1": "3", "#child-age-2": "0", form.childcare_select(): "2",
    }.items():
        expect(page.locator(selector)).to_have_value(typed)
    for selector in ("#lives-or-works-in-city-yes", "#work-styles-in-city", "#work-styles-telework",
                     "#pc-environment-none", "#consent-privacy"):
        expect(page.locator(selector)).to_be_checked()
    assert page.input_value("#motivation").startswith("子育てをしながら")

    assert [a["email"] for a in form.applications()].count(email) == 1
    form.check_requests()


def test_a_refusal_of_a_field_the_citizen_cannot_see_is_shown_as_text(form: Form) -> None:
    """A bot filling the hidden honeypot: the API's 422 names a field the form has no place for."""
    page, email = form.page, unique_email("bot")
    form.fill_valid(email)
    page.eval_on_selector("#website", "el => { el.value = 'https://spam.example' }")
    response = form.submit()
    assert response.status == 422
    assert [e["field"] for e in response.json()["errors"]] == ["website"]
    expect(page.locator("#apply-summary")).to_be_focused()
    expect(page.locator("#apply-summary-title")).to_have_text("入力内容を確認してください")
    expect(page.locator("#apply-summary-list li")).to_have_text([MESSAGES["website"]["invalid"]])
    assert form.summary_links() == []
    assert email not in [a["email"] for a in form.applications()]
    form.check_requests()


def test_the_motivation_counter_follows_what_is_typed(form: Form) -> None:
    page = form.page
    counter, live = page.locator("#motivation-count"), page.locator("#motivation-count-live")
    expect(counter).to_have_text("あと800文字")
    page.locator("#motivation").press_sequentially("ITを学びたい")
    expect(counter).to_have_text("あと793文字")
    page.locator("#motivation").press_sequentially("𠮷")  # one character, two UTF-16 units
    expect(counter).to_have_text("あと792文字")
    expect(live).to_have_text("あと792文字")  # read out once typing pauses

    page.fill("#motivation", "あ" * 805)
    expect(counter).to_have_text("5文字多すぎます")
    expect(counter).to_have_class(re.compile(r"\bapply-count--over\b"))
    expect(live).to_have_text("5文字多すぎます")

    form.fill_valid(unique_email("long"))
    page.fill("#motivation", "い" * 801)
    page.click("button.apply-submit")
    check_error_summary(form, [("#motivation", MESSAGES["motivation"]["too_long"])])
    expect(counter).to_have_text("1文字多すぎます")
    page.fill("#motivation", "い" * 800)
    expect(counter).to_have_text("あと0文字")
    expect(counter).not_to_have_class(re.compile(r"\bapply-count--over\b"))
    form.check_requests()
