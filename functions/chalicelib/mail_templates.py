"""The e-mails applicants receive, in plain Japanese.

Each template gets the application (a dict from the store), its programme and
the city. Keep them short: people read them on phones.
"""

from __future__ import annotations

from typing import Any

from .programs import City, Program

FOOTER = """
――――――――――――――――
{office}
メール: {contact_email}
電話: {contact_phone}（{contact_hours}）
このメールは送信専用のアドレスからお送りしています。
"""


def _footer(city: City) -> str:
    return FOOTER.format(**city.model_dump())


def _date(value: Any) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def render(template: str, application: dict[str, Any], program: Program, city: City) -> tuple[str, str]:
    """(subject, body) of ``template`` for ``application``."""
    name = application["name"]
    receipt = application["receipt_number"]
    if template == "received":
        subject = f"【{city.program_name}】お申し込みを受け付けました（受付番号 {receipt}）"
        body = f"""{name} 様

「{program.title}」へのお申し込みを受け付けました。ありがとうございます。

受付番号: {receipt}
（選考結果の確認やお問い合わせのときに使います。このメールを保存してください）

選考結果は {_date(program.results_announced_on)} ごろ、メールでお知らせします。
応募が定員を超えたときは、公開の抽選で受講者を決めます。抽選の方法と結果は、ホームページで公開します。

お申し込みを取り消したいときや、内容を直したいときは、下の窓口までご連絡ください。
"""
    elif template == "selected":
        subject = f"【{city.program_name}】受講が決まりました（受付番号 {receipt}）"
        body = f"""{name} 様

「{program.title}」の受講が決まりました。おめでとうございます。

受付番号: {receipt}
講座の期間: {_date(program.course_starts_on)} 〜 {_date(program.course_ends_on)}

集合研修の日程や、e-ラーニングの始め方は、あらためてご案内します。
ご都合が悪くなったときは、お早めに下の窓口までご連絡ください。次の方に席をお譲りします。
"""
    elif template == "waitlisted":
        position = application.get("waitlist_position")
        subject = f"【{city.program_name}】補欠になりました（受付番号 {receipt}）"
        body = f"""{name} 様

「{program.title}」にお申し込みいただき、ありがとうございました。
抽選の結果、補欠 {position} 番目となりました。

受講できなくなった方が出たときは、補欠の順番にご連絡します。
"""
    elif template == "not_selected":
        subject = f"【{city.program_name}】抽選結果のお知らせ（受付番号 {receipt}）"
        body = f"""{name} 様

「{program.title}」にお申し込みいただき、ありがとうございました。
たいへん残念ですが、抽選の結果、今回はご案内できませんでした。

次回の募集は、ホームページでお知らせします。またのお申し込みをお待ちしています。
"""
    elif template == "moved_up":
        subject = f"【{city.program_name}】繰り上げで受講が決まりました（受付番号 {receipt}）"
        body = f"""{name} 様

補欠でお待ちいただいていた「{program.title}」に、席が空きました。
繰り上げで受講が決まりましたので、お知らせします。

講座の期間: {_date(program.course_starts_on)} 〜 {_date(program.course_ends_on)}
ご都合が悪いときは、お早めに下の窓口までご連絡ください。
"""
    else:
        raise ValueError(f"unknown mail template {template!r}")
    return subject, body + _footer(city)


TEMPLATES = ("received", "selected", "waitlisted", "not_selected", "moved_up")
