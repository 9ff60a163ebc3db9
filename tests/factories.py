"""Builders for test data: valid by default, overridden per test."""

from __future__ import annotations

import itertools
from typing import Any

_counter = itertools.count(1)


def application_body(**overrides: Any) -> dict[str, Any]:
    """A valid application as a citizen's browser would send it (unique e-mail per call)."""
    n = next(_counter)
    body: dict[str, Any] = {
        "program_id": "it-basics-2027-spring",
        "name": "山田 花子",
        "name_kana": "やまだ はなこ",
        "email": f"hanako{n}@example.jp",
        "phone": "090-1234-5678",
        "postal_code": "630-0101",
        "address": "奈良県まなびリレー市本町1-2-3",
        "lives_or_works_in_city": True,
        "children": [{"age": 3}, {"age": 6}],
        "childcare_requests": [{"session_id": "day1", "children": 1}],
        "work_styles": ["in_city", "telework"],
        "pc_environment": "own",
        "motivation": "子育てをしながら、在宅でできる仕事を身につけたいと思い応募しました。",
        "consent_privacy": True,
        "website": "",
    }
    body.update(overrides)
    return body
