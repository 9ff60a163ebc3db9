"""The site builds strictly, every page is there, headings have ids, nothing loads from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.site.conftest import REPO, BuiltSite, run_build
from tests.site.htmlscan import parse

EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, //host
CSS_EXTERNAL = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])\s*(?:https?:)?//""", re.I)

# URLs inside Material's own bundle. None is fetched on this site:
#   mermaid: only for <pre class="mermaid">, which the site never has (test below);
#   resize-observer-polyfill: only in browsers without ResizeObserver (2020 and older),
#     and then refused by the pages' Content-Security-Policy;
#   GitHub/GitLab APIs: only with repo_url, which mkdocs.yml does not set.
MATERIAL_BUNDLE_URLS = {
    "https://unpkg.com/mermaid@11/dist/mermaid.min.js",
    "https://unpkg.com/resize-observer-polyfill",
    "https://api.github.com/repos/",
    "https://api.github.com/users/",
    "https://${e}/api/v4/projects/",
    "https://clipboardjs.com/",  # text of an error message
}


class _Ignore(yaml.SafeLoader):
    """Reads mkdocs.yml without resolving !ENV and !!python tags."""


_Ignore.add_multi_constructor("!", lambda loader, suffix, node: None)
_Ignore.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def mkdocs_config() -> dict[str, Any]:
    return yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Ignore)


def nav_sources(nav: list[Any]) -> list[str]:
    sources: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        sources.extend(nav_sources(value) if isinstance(value, list) else [value])
    return sources


def built_path(site: BuiltSite, source: str) -> Path:
    stem = source.removesuffix(".md")
    return site.root / ("index.html" if stem == "index" else f"{stem}/index.html")


def test_strict_build_succeeds(tmp_path: Path) -> None:
    result = run_build(tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "index.html").is_file()


def test_site_dir_is_outside_docs_dir() -> None:
    config = mkdocs_config()
    docs = (REPO / config["docs_dir"]).resolve()
    out = (REPO / config["site_dir"]).resolve()
    assert docs != out and docs not in out.parents


def test_every_page_in_the_nav_is_built(site: BuiltSite) -> None:
    sources = nav_sources(mkdocs_config()["nav"])
    assert len(sources) == 12
    for source in sources:
        assert (REPO / "site" / source).is_file(), source
        assert built_path(site, source).is_file(), source


def test_every_page_is_in_the_nav() -> None:
    sources = set(nav_sources(mkdocs_config()["nav"]))
    pages = {p.relative_to(REPO / "site").as_posix() for p in (REPO / "site").rglob("*.md")}
    assert pages == sources


def test_pages_are_japanese(site: BuiltSite) -> None:
    for path in site.html_files():
        html = parse(path).find("html")
        assert html is not None and html.get("lang") == "ja", path


def test_every_heading_has_an_explicit_id(site: BuiltSite) -> None:
    for path in site.html_files():
        for heading in parse(path).find_all("h1", "h2", "h3", "h4", "h5", "h6"):
            heading_id = heading.get("id") or ""
            assert heading_id, f"{path}: <{heading.tag}> {heading.text.strip()!r} has no id"
            assert not re.fullmatch(r"_\d*", heading_id), f"{path}: {heading_id!r} is an automatic id"


def test_content_headings_in_h2_h3_are_named(site: BuiltSite) -> None:
    """The brief's rule, checked on content only: every h2/h3 has a readable id."""
    for path in site.html_files():
        article = parse(path).find("article")
        if article is None:
            continue
        for heading in article.find_all("h2", "h3"):
            assert re.fullmatch(r"[a-z][a-z0-9-]*", heading.get("id") or ""), (path, heading.text)


def _resource_urls(path: Path) -> list[tuple[str, str]]:
    """(tag.attribute, value) for everything a page makes the browser fetch or follow."""
    found = []
    for element in parse(path).iter():
        for attribute in ("src", "href", "srcset", "poster", "data", "action", "formaction", "content"):
            value = element.get(attribute)
            if value is None:
                continue
            if attribute == "content" and element.get("http-equiv", "").lower() != "refresh":
                continue
            found.append((f"{element.tag}.{attribute}", value))
        style = element.get("style")
        if style:
            found.append((f"{element.tag}.style", style))
        if element.tag == "style":
            found.append(("style", element.text))
    return found


def test_no_page_refers_to_another_origin(site: BuiltSite) -> None:
    for path in site.html_files():
        for where, value in _resource_urls(path):
            if where.endswith(".style") or where == "style":
                assert not CSS_EXTERNAL.search(value), (path, where, value)
            else:
                for part in value.split(","):  # srcset
                    assert not EXTERNAL.match(part), (path, where, value)


def test_no_stylesheet_loads_from_another_origin(site: BuiltSite) -> None:
    for path in site.root.rglob("*.css"):
        assert not CSS_EXTERNAL.search(path.read_text(encoding="utf-8")), path


def test_our_scripts_and_styles_name_no_other_origin(site: BuiltSite) -> None:
    for folder in ("javascripts", "stylesheets"):
        for path in (site.root / folder).rglob("*"):
            if path.is_file():
                assert not re.search(r"(?:https?:)?//[a-z0-9]", path.read_text(encoding="utf-8"), re.I), path


def test_material_bundle_urls_are_the_known_conditional_ones(site: BuiltSite) -> None:
    bundles = list((site.root / "assets" / "javascripts").glob("bundle.*.min.js"))
    assert len(bundles) == 1
    urls = set(re.findall(r"https?://[^\s\"'`)]+", bundles[0].read_text(encoding="utf-8")))
    unknown = {u for u in urls if not any(u.startswith(known) for known in MATERIAL_BUNDLE_URLS)}
    assert not unknown, f"Material's bundle can fetch from new places; review: {unknown}"


def test_no_mermaid_diagram_and_no_repository(site: BuiltSite) -> None:
    """Either would make Material fetch from unpkg.com or api.github.com."""
    for path in site.html_files():
        assert 'class="mermaid"' not in path.read_text(encoding="utf-8"), path
    config = mkdocs_config()
    assert "repo_url" not in config
    assert config["theme"]["font"] is False


def test_every_page_has_a_same_origin_content_security_policy(site: BuiltSite) -> None:
    for path in site.html_files():
        metas = [m for m in parse(path).find_all("meta") if m.get("http-equiv") == "Content-Security-Policy"]
        assert len(metas) == 1, path
        policy = dict(
            (d.split()[0], d.split()[1:]) for d in (metas[0].get("content") or "").split(";") if d.strip()
        )
        assert policy["default-src"] == ["'self'"]
        assert policy["connect-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert "'unsafe-inline'" not in policy["script-src"]
        assert all(s == "'self'" or s.startswith("'sha256-") for s in policy["script-src"]), policy


def test_api_base_is_exposed_to_the_scripts(site: BuiltSite) -> None:
    for url in ("", "apply/"):
        meta = site.page(url).find("meta", name="manabi-api-base")
        assert meta is not None and meta.get("content") == "/api"


def test_an_absolute_api_base_is_allowed_by_the_policy(build, tmp_path: Path) -> None:
    built = build(tmp_path / "out", MANABI_API_BASE="https://api.example.jp/v1")
    page = built.page("apply/")
    assert page.find("meta", name="manabi-api-base").get("content") == "https://api.example.jp/v1"
    csp = next(m for m in page.find_all("meta") if m.get("http-equiv") == "Content-Security-Policy")
    assert "connect-src 'self' https://api.example.jp;" in csp.get("content")


def test_form_assets_load_only_on_the_apply_page(site: BuiltSite) -> None:
    for path in site.html_files():
        html = path.read_text(encoding="utf-8")
        on_apply = path == site.path("apply/")
        assert ("javascripts/apply.js" in html) is on_apply, path
        assert ("stylesheets/form.css" in html) is on_apply, path


@pytest.mark.parametrize("url", ["", "how-it-works/", "apply/", "privacy/"])
def test_contact_comes_from_the_catalogue(site: BuiltSite, url: str, catalogue_data) -> None:
    footer_contact = site.page(url).find("aside", class_="mr-contact")
    assert footer_contact is not None
    city = catalogue_data["city"]
    for value in (city["office"], city["contact_phone"], city["contact_email"], city["contact_hours"]):
        assert value in footer_contact.text
