"""``manabi admin``: city staff's tools, as a client of the staff API.

Requests go to ``--api`` (default: the local stack). For a deployed API they
are signed with the staff member's AWS credentials (SigV4, service
``execute-api``), which the staff routes' IAM authorizer checks; the local
stack lets them through unsigned.

    manabi admin applications list   --program P
    manabi admin applications export --program P [--out applications.csv]
    manabi admin lottery commit  --program P [--seed-file F]   (creates the secret seed)
    manabi admin lottery draw    --program P [--seed-file F]
    manabi admin lottery publish --program P
    manabi admin sponsor-remaining --program P --budget JPYC
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_API = "http://127.0.0.1:8000/api"
STATUS_LABELS = {"received": "受付済み", "selected": "当選", "waitlisted": "補欠", "not_selected": "落選",
                 "withdrawn": "辞退", "ineligible": "対象外"}


class StaffApi:
    def __init__(self, base_url: str, region: str | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._region = region or os.environ.get("AWS_DEFAULT_REGION", "ap-northeast-1")
        self._sign = urlsplit(self._base).hostname not in ("127.0.0.1", "localhost", "::1")

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        url = self._base + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self._sign:
            headers = self._sigv4(method, url, data, headers)
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _sigv4(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise SystemExit("no AWS credentials: staff requests to a deployed API are signed with them")
        aws_request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials, "execute-api", self._region).add_auth(aws_request)
        return dict(aws_request.headers.items())

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, payload = self.request(method, path, body)
        try:
            parsed = json.loads(payload.decode("utf-8")) if payload else {}
        except ValueError:
            parsed = {"raw": payload.decode("utf-8", "replace")}
        if status >= 400:
            error = parsed.get("error", {}) if isinstance(parsed, dict) else {}
            raise SystemExit(f"error {status}: {error.get('code', '')} {error.get('message', parsed)}")
        return parsed


def _list(api: StaffApi, args: argparse.Namespace) -> int:
    applications = api.json("GET", f"/admin/programs/{args.program}/applications")["applications"]
    for a in applications:
        mail = ",".join(f"{m['template']}:{m['status']}" for m in a.get("mail", []))
        print(f"{a['receipt_number']}  {STATUS_LABELS.get(a['status'], a['status']):4}  {a['submitted_at'][:19]}  "
              f"{a['name']}  mail[{mail}]")
    print(f"{len(applications)} applications")
    return 0


def _export(api: StaffApi, args: argparse.Namespace) -> int:
    status, payload = api.request("GET", f"/admin/programs/{args.program}/applications/export")
    if status != 200:
        raise SystemExit(f"error {status}: {payload.decode('utf-8', 'replace')}")
    out = Path(args.out or f"applications-{args.program}.csv")
    out.write_bytes(payload)
    os.chmod(out, 0o600)  # personal data: readable by the staff member only
    print(f"wrote {out} ({len(payload)} bytes)")
    return 0


def _seed_file(args: argparse.Namespace) -> Path:
    return Path(args.seed_file or f"lottery-seed-{args.program}.txt")


def _commit(api: StaffApi, args: argparse.Namespace) -> int:
    path = _seed_file(args)
    if path.exists():
        raise SystemExit(f"{path} exists already: a programme's seed is committed once")
    seed = secrets.token_hex(32)
    path.write_text(seed + "\n", encoding="ascii")
    os.chmod(path, 0o600)
    commitment = hashlib.sha256(bytes.fromhex(seed)).hexdigest()
    view = api.json("POST", f"/admin/programs/{args.program}/lottery/commit", {"seed_sha256": commitment})
    print(f"committed SHA-256(seed) = {view['seed_sha256']} at {view['committed_at']}")
    print(f"keep {path} secret and safe until the draw")
    return 0


def _draw(api: StaffApi, args: argparse.Namespace) -> int:
    seed = _seed_file(args).read_text(encoding="ascii").strip()
    result = api.json("POST", f"/admin/programs/{args.program}/lottery/draw", {"seed": seed})
    print(f"drawn: {result['applicants']} applicants, {result['selected']} selected, "
          f"{result['waitlisted']} waitlisted (capacity {result['capacity']}); publish to announce")
    return 0


def _publish(api: StaffApi, args: argparse.Namespace) -> int:
    result = api.json("POST", f"/admin/programs/{args.program}/lottery/publish", {})
    print(f"published: {result['applied']} applications updated; result e-mails are queued")
    return 0


def _sponsor_remaining(api: StaffApi, args: argparse.Namespace) -> int:
    report = api.json("POST", f"/admin/programs/{args.program}/sponsor-remaining", {"budget_jpyc": args.budget})
    for entry in report["sponsored"]:
        print(f"lent right {entry['token_id']} to {entry['talent_id']} (tx {entry['tx_id']})")
    spent = int(report["spent_base_units"]) // 10**18
    left = int(report["remaining_budget_base_units"]) // 10**18
    print(f"{len(report['sponsored'])} talents sponsored by the city, {spent:,} JPYC spent, {left:,} JPYC left; "
          f"{report['still_waiting']} still waiting")
    return 0


def add_parser(commands: Any) -> None:
    admin = commands.add_parser("admin", help="city staff's tools (through the staff API)")
    admin.add_argument("--api", default=os.environ.get("MANABI_API_URL", DEFAULT_API), help="API base URL")
    sections = admin.add_subparsers(dest="section", required=True)

    applications = sections.add_parser("applications").add_subparsers(dest="action", required=True)
    listing = applications.add_parser("list")
    listing.add_argument("--program", required=True)
    listing.set_defaults(run=_list)
    export = applications.add_parser("export")
    export.add_argument("--program", required=True)
    export.add_argument("--out")
    export.set_defaults(run=_export)

    lottery = sections.add_parser("lottery").add_subparsers(dest="action", required=True)
    for name, run in (("commit", _commit), ("draw", _draw), ("publish", _publish)):
        step = lottery.add_parser(name)
        step.add_argument("--program", required=True)
        if name != "publish":
            step.add_argument("--seed-file")
        step.set_defaults(run=run)

    remaining = sections.add_parser("sponsor-remaining", help="lend city-held rights to talents still waiting")
    remaining.add_argument("--program", required=True)
    remaining.add_argument("--budget", type=int, required=True, help="budget in whole JPYC")
    remaining.set_defaults(run=_sponsor_remaining)
    admin.set_defaults(func=lambda args: args.run(StaffApi(args.api), args))


