"""axe-core on every page of the built site, served by the real local stack (``manabi dev``).

The page list is derived, not typed: every Markdown page under the MkDocs
``docs_dir`` plus every page in ``nav`` (``mkdocs.yml``), and the 404 page.
A crawl of the live site checks that no page a visitor can reach by a link is
missing from that list. (The built sitemap.xml is empty while ``site_url`` is
unset, so it can't be the source.)

axe-core (vendored in tests/site/vendor, MPL-2.0) is injected with
``add_script_tag``; the ``phone_page`` fixture bypasses the site's CSP for that.
Rules: WCAG 2.0/2.1 A and AA, and best practices. Each page is checked at phone
width (360 px, where it must also fit without sideways scrolling) and at a
desktop width, where Material shows its sidebars. The application form is also
checked in its error states and its success state, against the real API.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from playwright.sync_api import Page, Request, Response, expect

pytestmark = [pytest.mark.browser, pytest.mark.fullflow]

REPO = Path(__file__).resolve().parents[2]
AXE = (REPO / "tests" / "site" / "vendor" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
PHONE_WIDTH = 360
DESKTOP = {"width": 1280, "height": 800}
NOT_FOUND = "/no-such-page/"  # served with the site's 404.html


# -- the page list, from the MkDocs configuration ---------------------------------------------------


class _ConfigLoader(yaml.SafeLoader):
    """mkdocs.yml with its custom tags (``!ENV``) read as plain values."""


_ConfigLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _nav_files(nav: Any) -> Iterator[str]:
    if isinstance(nav, str):
        if nav.endswith(".md") and "://" not in nav:
            yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_files(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_files(value)


def _url_for(source: str, directory_urls: bool) -> str:
    """The site path MkDocs gives a page: index.md -> /, faq.md -> /faq/, a/b.md -> /a/b/."""
    stem = source.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return "/" + stem.removesuffix("index")
    return "/" + stem + ("/" if directory_urls else ".html")


def site_pages() -> list[str]:
    config = yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_ConfigLoader)  # noqa: S506
    docs = REPO / config.get("docs_dir", "docs")
    directory_urls = config.get("use_directory_urls", True) is not False
    in_nav = list(_nav_files(config.get("nav") or []))
    on_disk = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
    sources = list(dict.fromkeys(in_nav + on_disk))  # nav order first
    assert sources, "no pages found in mkdocs.yml or its docs_dir"
    return [_url_for(s, directory_urls) for s in sources] + [NOT_FOUND]


PAGES = site_pages()


# -- helpers ----------------------------------------------------------------------------------------


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now, with enough detail to fix them."""
    page.add_script_tag(content=AXE)
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return {
                evaluated: [...r.passes, ...r.violations, ...r.incomplete].map((x) => x.id),
                violations: r.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
                })),
            };
        }""",
        AXE_TAGS,
    )
    # axe really looked at the page (a page that failed to load would "pass" with nothing checked)
    assert "document-title" in result["evaluated"] and "color-contrast" in result["evaluated"], result
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, ensure_ascii=False, indent=1)


def failed(into: list[str]) -> Callable[[Request], None]:
    """A requestfailed handler; a request cut short by the next navigation (ERR_ABORTED) is no failure."""

    def record(request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":
            into.append(f"{request.failure} {request.url}")

    return record


def open_page(page: Page, base: str, path: str) -> None:
    """Load a page and everything it needs; fails if any of its files did not load."""
    broken: list[str] = []

    def loaded(response: Response) -> None:
        if response.status >= 400 and response.url != base + path:
            broken.append(f"{response.status} {response.url}")

    page.on("response", loaded)
    page.on("requestfailed", failed(broken))
    response = page.goto(base + path)
    assert response is not None
    assert response.status == (404 if path == NOT_FOUND else 200), (path, response.status)
    page.wait_for_load_state("networkidle")  # Material's and the pages' scripts have run
    expect(page.locator("h1").first).to_be_visible()
    # A stylesheet answering 404 makes axe report Material's hidden toggles: say so plainly.
    # (Seen when another `manabi dev` rebuilt the shared build/site during a run.)
    assert broken == [], f"{path}: files did not load: {broken}"
    assert page.locator("link[rel=stylesheet]").count() > 0


def scroll_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.fixture
def desktop_page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, locale="ja-JP", bypass_csp=True, device_scale_factor=1)
    yield context.new_page()
    context.close()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def crawl(base: str, limit: int = 200) -> set[str]:
    """Paths of the HTML pages reachable by links from the home page (same origin only)."""
    origin = urlsplit(base).netloc
    seen, queue, pages = {"/"}, ["/"], set()
    while queue and len(seen) <= limit:
        path = queue.pop(0)
        try:
            with urllib.request.urlopen(base + path, timeout=30) as response:  # noqa: S310 - loopback
                if "text/html" not in response.headers.get("Content-Type", ""):
                    continue
                html = response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path} is linked but answers {error.code}") from error
        pages.add(path)
        parser = _Links()
        parser.feed(html)
        for href in parser.hrefs:
            target = urlsplit(urljoin(base + path, href))
            if target.scheme in ("http", "https") and target.netloc == origin and target.path not in seen:
                seen.add(target.path)
                queue.append(target.path)
    assert len(seen) <= limit, "the crawl did not finish"
    return pages


def fill_valid(page: Page, program: dict[str, Any], email: str) -> None:
    page.check(f"#program-{program['id']}")
    page.fill("#name", "山田 花子")
    page.fill("#name-kana", "やまだ はなこ")
    page.fill("#email", email)
    page.fill("#email-confirm", email)
    page.fill("#phone", "090-1234-5678")
    page.fill("#postal-code", "630-0123")
    page.fill("#address", "奈良県まなびリレー市北町1-2-3")
    page.check("#lives-or-works-in-city-yes")
    page.select_option("#children-count", "1")
    page.select_option("#child-age-1", "2")
    session = next(s for s in program["sessions"] if s["childcare"])
    page.select_option(f"#childcare-{program['id']}-{session['id']}", "1")
    page.check("#work-styles-telework")
    page.check("#pc-environment-own")
    page.fill("#motivation", "子育てをしながら、ITの仕事に挑戦したいです。")
    page.check("#consent-privacy")


def open_program(live_stack: Any) -> dict[str, Any]:
    with urllib.request.urlopen(live_stack.api + "/programs", timeout=30) as response:  # noqa: S310 - loopback
        programs = json.loads(response.read())["programs"]
    return next(p for p in programs if p["accepting_applications"])


# -- every page ------------------------------------------------------------------------------------


def test_every_page_a_visitor_can_reach_is_checked(live_stack: Any) -> None:
    reachable = crawl(live_stack.url)
    assert "/apply/" in reachable and "/" in reachable
    assert reachable - set(PAGES) == set(), "pages reachable on the site but not checked below"


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing_at_phone_width(phone_page: Page, live_stack: Any, path: str) -> None:
    open_page(phone_page, live_stack.url, path)
    violations = run_axe(phone_page)
    assert violations == [], describe(violations)


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing_at_desktop_width(desktop_page: Page, live_stack: Any, path: str) -> None:
    open_page(desktop_page, live_stack.url, path)
    violations = run_axe(desktop_page)
    assert violations == [], describe(violations)


@pytest.mark.parametrize("path", PAGES)
def test_page_fits_a_360px_phone(phone_page: Page, live_stack: Any, path: str) -> None:
    open_page(phone_page, live_stack.url, path)
    assert phone_page.viewport_size and phone_page.viewport_size["width"] == PHONE_WIDTH
    assert scroll_width(phone_page) <= PHONE_WIDTH


# -- the form's states -----------------------------------------------------------------------------


@pytest.mark.parametrize("answers", ["empty", "wrong"])
def test_axe_finds_nothing_in_the_form_error_state(phone_page: Page, live_stack: Any, answers: str) -> None:
    page = phone_page
    open_page(page, live_stack.url, "/apply/")
    if answers == "wrong":  # child-age and childcare selects shown, errors on several kinds of control
        fill_valid(page, open_program(live_stack), "hanako@example")
        page.fill("#email-confirm", "hanako@example.jp")
        page.fill("#name-kana", "Yamada")
        page.select_option("#child-age-1", "")
        page.uncheck("#work-styles-telework")
    page.click("button.apply-submit")
    expect(page.locator("#apply-summary")).to_be_focused()
    expect(page.locator("#apply-summary-list a").first).to_be_visible()
    page.screenshot(path=str(REPO / "test-artifacts" / f"a11y-form-error-{answers}.png"), animations="disabled")
    violations = run_axe(page)
    assert violations == [], describe(violations)
    assert scroll_width(page) <= PHONE_WIDTH


def test_axe_finds_nothing_in_the_form_success_state(phone_page: Page, live_stack: Any) -> None:
    page = phone_page
    open_page(page, live_stack.url, "/apply/")
    fill_valid(page, open_program(live_stack), f"a11y+{uuid.uuid4().hex[:12]}@example.jp")
    with page.expect_response(lambda r: urlsplit(r.url).path == "/api/applications") as answer:
        page.click("button.apply-submit")
    assert answer.value.status == 201, answer.value.text()
    expect(page.locator("#apply-done")).to_be_focused()
    page.screenshot(path=str(REPO / "test-artifacts" / "a11y-form-success.png"), animations="disabled")
    violations = run_axe(page)
    assert violations == [], describe(violations)
    assert scroll_width(page) <= PHONE_WIDTH
