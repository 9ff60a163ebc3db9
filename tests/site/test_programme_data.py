"""Programme facts on the site come from the catalogue, never from the pages."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.site.conftest import JST, BuiltSite, jdate, open_now, real_catalogue, run_build

# Facts of the real catalogue that must vanish when the catalogue says otherwise.
OLD_FACTS = [
    "まなびリレー",  # programme name, and the city's name contains it
    "はじめての人のためのITエンジニア講座",
    "it-basics-2027-spring",
    "30人",
    "定員15人",
    "10:00〜15:00",
    "2027年5月22日",
    "2027年1月31日",
    "2026年11月16日",
    "55,000",
    "120日",
    "2027年3月6日",
    "2027年2月10日",
    "市民活動センター",
    "生後6か月から小学校入学前まで",
    "0743-00-0000",
    "manabi-relay@example.jp",
    "市民活躍推進課",
    "8:30〜17:15",
]


def other_catalogue(data: dict[str, Any]) -> dict[str, Any]:
    """The real catalogue with every fact changed (dates relative to today, window open)."""
    today = dt.datetime.now(JST).date()
    data["city"] = {
        "name": "テスト川市",
        "program_name": "つなぐ学び",
        "office": "テスト川市 こども未来課",
        "contact_email": "learn@test.example.org",
        "contact_phone": "0120-123-456",
        "contact_hours": "平日 9:00〜16:00",
    }
    program = data["programs"][0]
    program.update(
        id="web-basics-test",
        title="Web制作はじめて講座（テスト）",
        summary="テスト用の講座の説明です。",
        capacity=17,
        price_yen=77000,
        results_announced_on=(today + dt.timedelta(days=75)).isoformat(),
        course_starts_on=(today + dt.timedelta(days=90)).isoformat(),
        course_ends_on=(today + dt.timedelta(days=180)).isoformat(),
        lending_days=95,
    )
    program["sessions"] = [
        {
            "id": "kickoff",
            "title": "テスト集合研修A",
            "date": (today + dt.timedelta(days=97)).isoformat(),
            "starts_at": "09:30",
            "ends_at": "12:00",
            "place": "テスト会場ホール",
            "childcare": True,
            "childcare_capacity": 8,
        },
        {
            "id": "closing",
            "title": "テスト集合研修B",
            "date": (today + dt.timedelta(days=175)).isoformat(),
            "starts_at": "13:00",
            "ends_at": "16:30",
            "place": "テスト会場別館",
            "childcare": False,
            "childcare_capacity": 0,
        },
    ]
    program["childcare"] = {"ages": "1歳から3歳まで", "fee_yen": 500, "note": "テスト用の託児の説明です。"}
    return open_now(data, days=30)


@pytest.fixture(scope="module")
def changed(build, tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltSite, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("changed")
    data = other_catalogue(real_catalogue())
    path = folder / "programs.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return build(folder / "out", MANABI_PROGRAMS_FILE=str(path)), data


def test_old_facts_are_gone(changed) -> None:
    built, _ = changed
    text = built.all_text()
    for fact in OLD_FACTS:
        assert fact not in text, f"{fact!r} is still on the site: typed into a page instead of the catalogue?"


def test_new_facts_are_on_the_pages(changed) -> None:
    built, data = changed
    program = data["programs"][0]
    closes = dt.datetime.fromisoformat(program["application_closes_at"]).astimezone(JST)
    closes_text = f"{jdate(closes.date())}{closes.hour}:{closes.minute:02d}"
    session_day = jdate(dt.date.fromisoformat(program["sessions"][0]["date"]))
    results_day = jdate(dt.date.fromisoformat(program["results_announced_on"]))
    expected = {
        "": [program["title"], "17人", closes_text, results_day, session_day, "つなぐ学び"],
        "course/": [program["title"], "<dd>17人</dd>", "テスト会場ホール", "テスト会場別館", session_day,
                    "9:30〜12:00", "1歳から3歳まで", "500円", "定員8人", "テスト用の託児の説明です。"],
        "apply/": [program["title"], "定員17人", closes_text, "1歳から3歳まで", "500円", "テスト集合研修A"],
        "after-applying/": ["17人", results_day],
        "sponsors/": ["77,000円", "77,000 JPYC", "95日"],
        "how-it-works/": ["77,000円", "95日"],
        "faq/": ["1歳から3歳まで", "500円"],
        "privacy/": ["テスト川市 こども未来課", "learn@test.example.org", "0120-123-456"],
        "accessibility/": ["テスト川市", "0120-123-456"],
        "employers/": ["テスト川市", "learn@test.example.org"],
    }  # fmt: skip
    for url, facts in expected.items():
        text = built.path(url).read_text(encoding="utf-8")
        for fact in facts:
            assert fact in text, f"{url}: {fact!r} missing"
    assert "<title>つなぐ学び</title>" in built.path("").read_text(encoding="utf-8")


def test_form_offers_the_catalogue_programme_and_its_childcare_sessions(changed) -> None:
    built, data = changed
    program = data["programs"][0]
    form = built.page("apply/").by_id("apply-form")
    radios = form.find_all("input", name="program_id")
    assert [r.get("value") for r in radios] == [program["id"]]
    assert "checked" in radios[0].attrs  # the only choice is chosen already
    assert radios[0].get("data-results") == jdate(dt.date.fromisoformat(program["results_announced_on"]))
    assert form.by_id("childcare-web-basics-test-kickoff") is not None
    assert form.by_id("childcare-web-basics-test-closing") is None  # no childcare that day


def test_closed_programmes_are_listed_but_not_offered(
    build, tmp_path: Path, catalogue_data, write_catalogue
) -> None:
    data = open_now(catalogue_data)
    closed = dict(data["programs"][0], id="closed-course", chain_program_id=99, title="締め切った講座")
    now = dt.datetime.now(JST).replace(microsecond=0)
    closed["application_opens_at"] = (now - dt.timedelta(days=60)).isoformat()
    closed["application_closes_at"] = (now - dt.timedelta(days=1)).isoformat()
    data["programs"].append(closed)
    path = write_catalogue(data)
    built = build(tmp_path / "out", MANABI_PROGRAMS_FILE=str(path))
    assert "締め切った講座" in built.path("course/").read_text(encoding="utf-8")
    form = built.page("apply/").by_id("apply-form")
    assert [r.get("value") for r in form.find_all("input", name="program_id")] == [data["programs"][0]["id"]]
    assert "締め切った講座" not in built.path("apply/").read_text(encoding="utf-8")


def test_several_open_programmes_are_all_offered_none_preselected(
    build, tmp_path: Path, catalogue_data, write_catalogue
) -> None:
    data = open_now(catalogue_data)
    data["programs"].append(dict(data["programs"][0], id="second-course", chain_program_id=2, title="二つ目の講座"))
    path = write_catalogue(data)
    form = build(tmp_path / "out", MANABI_PROGRAMS_FILE=str(path)).page("apply/").by_id("apply-form")
    radios = form.find_all("input", name="program_id")
    assert [r.get("value") for r in radios] == [data["programs"][0]["id"], "second-course"]
    assert not any("checked" in r.attrs for r in radios)
    groups = form.find_all(data_field="childcare_requests")
    assert [g.get("data-program") for g in groups] == [data["programs"][0]["id"], "second-course"]
    assert all("hidden" in g.attrs for g in groups)  # shown once a programme is chosen


def test_without_open_programmes_there_is_no_form(
    build, tmp_path: Path, catalogue_data, write_catalogue
) -> None:
    now = dt.datetime.now(JST).replace(microsecond=0)
    for program in catalogue_data["programs"]:
        program["application_opens_at"] = (now - dt.timedelta(days=60)).isoformat()
        program["application_closes_at"] = (now - dt.timedelta(days=1)).isoformat()
    path = write_catalogue(catalogue_data)
    built = build(tmp_path / "out", MANABI_PROGRAMS_FILE=str(path))
    apply_page = built.page("apply/")
    assert apply_page.by_id("apply-form") is None
    assert "現在、応募を受け付けている講座はありません" in built.path("apply/").read_text(encoding="utf-8")
    for url in ("", "course/"):  # no button that leads nowhere
        assert "mr-cta" not in built.path(url).read_text(encoding="utf-8"), url


def test_an_invalid_catalogue_fails_the_build(tmp_path: Path, catalogue_data, write_catalogue) -> None:
    catalogue_data["programs"][0]["capacity"] = 0
    path = write_catalogue(catalogue_data)
    result = run_build(tmp_path / "out", MANABI_PROGRAMS_FILE=str(path))
    assert result.returncode != 0
    assert "programme catalogue" in result.stdout + result.stderr
    assert "capacity" in result.stdout + result.stderr


def test_a_missing_catalogue_fails_the_build(tmp_path: Path) -> None:
    result = run_build(tmp_path / "out", MANABI_PROGRAMS_FILE=str(tmp_path / "nowhere.json"))
    assert result.returncode != 0
    assert "nowhere.json" in result.stdout + result.stderr


def test_a_coming_programme_says_when_applications_open(
    build, tmp_path: Path, catalogue_data, write_catalogue
) -> None:
    now = dt.datetime.now(JST).replace(microsecond=0)
    program = catalogue_data["programs"][0]
    opens = now + dt.timedelta(days=10)
    program["application_opens_at"] = opens.isoformat()
    program["application_closes_at"] = (now + dt.timedelta(days=40)).isoformat()
    built = build(tmp_path / "out", MANABI_PROGRAMS_FILE=str(write_catalogue(catalogue_data)))
    opens_text = f"{jdate(opens.date())}{opens.hour}:{opens.minute:02d}"
    index = built.path("").read_text(encoding="utf-8")
    assert f"{opens_text}から受け付けます" in index and "応募を受け付けています" not in index
    hint = built.page("apply/").by_id(f"program-{program['id']}-hint")
    assert f"受付開始：{opens_text}" in hint.text
