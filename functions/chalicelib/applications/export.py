"""Applications as CSV for Excel: Japanese headers, one row per application."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

STATUS_LABELS = {
    "received": "受付済み",
    "selected": "当選",
    "waitlisted": "補欠",
    "not_selected": "落選",
    "withdrawn": "辞退",
    "ineligible": "対象外",
}
WORK_STYLE_LABELS = {"in_city": "市内", "near_city": "近隣", "telework": "テレワーク"}
PC_LABELS = {"own": "自分用あり", "shared": "家族と共用", "none": "なし（貸出希望）"}
MAIL_LABELS = {"pending": "送信待ち", "sent": "送信済み", "failed": "送信失敗"}
JST = dt.timezone(dt.timedelta(hours=9))

HEADERS = [
    "受付番号", "受付日時", "状態", "補欠順位", "氏名", "ふりがな", "メールアドレス", "電話番号", "郵便番号", "住所",
    "市内在住・在勤", "子どもの人数", "子どもの年齢", "託児希望", "希望する働き方", "PC環境", "志望動機",
    "メール送信状況",
]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Excel runs cells starting with these as formulas (CSV injection): make them text.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def to_csv(applications: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for a in applications:
        submitted = dt.datetime.fromisoformat(a["submitted_at"]).astimezone(JST).strftime("%Y-%m-%d %H:%M")
        mail = a.get("mail") or []
        writer.writerow([_cell(v) for v in (
            a["receipt_number"],
            submitted,
            STATUS_LABELS.get(a["status"], a["status"]),
            a.get("waitlist_position") or "",
            a["name"],
            a["name_kana"],
            a["email"],
            a["phone"],
            a["postal_code"],
            a["address"],
            "はい" if a["lives_or_works_in_city"] else "いいえ",
            len(a.get("children") or []),
            "・".join(f"{c['age']}歳" for c in a.get("children") or []),
            "・".join(f"{r['session_id']}:{r['children']}人" for r in a.get("childcare_requests") or []),
            "・".join(WORK_STYLE_LABELS[w] for w in a["work_styles"]),
            PC_LABELS[a["pc_environment"]],
            a["motivation"],
            "・".join(f"{m['template']}:{MAIL_LABELS.get(m['status'], m['status'])}" for m in mail),
        )])
    return out.getvalue()
