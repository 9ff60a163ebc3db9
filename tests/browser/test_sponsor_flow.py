"""The sponsor dashboard in chromium against the real local stack (``manabi dev``).

A fake EIP-1193 wallet is put into the page (``add_init_script``) and announced
through EIP-6963; it answers through ``expose_function`` with eth_account and a
demo sponsor's key, so every signature is real and the API verifies it as it
would a wallet's. Outcomes are checked in the page and again through the API.

The stack is shared by the whole session and other tests buy and lend too:
these tests use demo sponsors 2 and 3, never assume token ids, and take
whichever talent is waiting. They run under the site's Content-Security-Policy
(not bypassed), except the demo-wallet test, which needs axe injected.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from playwright.sync_api import Page, expect

from manabi.localstack import demo_sponsor_key
from tests.browser.conftest import ARTIFACTS, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.fullflow]

REPO = Path(__file__).resolve().parents[2]
AXE = (REPO / "tests" / "site" / "vendor" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
DASHBOARD = "/sponsor-dashboard/"
DONE = 30_000  # ms: a relayed transaction confirmed and the dashboard reloaded
FAKE_WALLET_NAME = "テスト用ウォレット"
DEMO_WALLET_NAME = "まなびリレー デモウォレット（ローカル専用）"

FAKE_WALLET = """
(() => {
  const info = Object.freeze({
    uuid: "5f0c1a52-8d0e-4c36-9a57-74657374a001",
    name: "%s",
    icon: "data:image/svg+xml,%%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 8 8'%%3E%%3Crect width='8' height='8' fill='%%23333'/%%3E%%3C/svg%%3E",
    rdns: "test.manabi-relay.fake-wallet",
  });
  const provider = Object.freeze({
    request: async (args) => {
      const answer = await window.__fakeWallet(args.method, args.params || []);
      if (answer.error) throw Object.assign(new Error(answer.error.message), {code: answer.error.code});
      return answer.result;
    },
    on() {},
    removeListener() {},
  });
  const announce = () => window.dispatchEvent(
    new CustomEvent("eip6963:announceProvider", {detail: Object.freeze({info, provider})}));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
""" % FAKE_WALLET_NAME


class FakeWallet:
    """Answers the page's EIP-1193 requests with a demo sponsor's key, like a wallet would.

    It starts on another chain (Polygon) so the page must switch it, gives its
    address in lowercase (as wallets do) and rejects the methods in ``reject``
    with the EIP-1193 code 4001, as when the user presses "Reject".
    """

    def __init__(self, key: str, chain_id_hex: str) -> None:
        self.account = Account.from_key(key)
        self.target_chain = chain_id_hex
        self.chain = "0x89"
        self.reject: set[str] = set()
        self.calls: list[str] = []
        self.messages: list[str] = []
        self.typed: list[dict[str, Any]] = []

    def __call__(self, method: str, params: list[Any]) -> dict[str, Any]:
        self.calls.append(method)
        if method in self.reject:
            return {"error": {"code": 4001, "message": "User rejected the request."}}
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [self.account.address.lower()]}
        if method == "eth_chainId":
            return {"result": self.chain}
        if method == "wallet_switchEthereumChain":
            if params[0]["chainId"].lower() != self.target_chain.lower():
                return {"error": {"code": 4902, "message": "Unrecognized chain"}}
            self.chain = self.target_chain
            return {"result": None}
        if method == "personal_sign":
            assert params[1].lower() == self.account.address.lower()
            message = bytes.fromhex(params[0].removeprefix("0x"))
            self.messages.append(message.decode("utf-8"))
            return {"result": self._sign(encode_defunct(primitive=message))}
        if method == "eth_signTypedData_v4":
            assert params[0].lower() == self.account.address.lower()
            assert self.chain == self.target_chain, "typed data signed on the wrong chain"
            typed = json.loads(params[1])
            self.typed.append(typed)
            return {"result": self._sign(encode_typed_data(full_message=typed))}
        return {"error": {"code": 4200, "message": f"unsupported {method}"}}

    def _sign(self, signable: Any) -> str:
        return str(Account.sign_message(signable, self.account.key).signature.to_0x_hex())


def call_api(base: str, method: str, path: str, *, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(base + path, method=method, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def jpyc_text(base_units: int | str) -> str:
    """The page's format, written out independently: 55,000 JPYC (whole amounts only here)."""
    value = int(base_units)
    assert value % 10**18 == 0
    return f"{value // 10**18:,} JPYC"


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A 360 px page under the site's real CSP that records problems and API requests."""
    context = browser.new_context(viewport=PHONE, locale="ja-JP", device_scale_factor=1)
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.api_requests = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.problems.append(str(e)))  # type: ignore[attr-defined]
    page.on("request", lambda r: "/api/" in r.url and page.api_requests.append(  # type: ignore[attr-defined]
        {"method": r.method, "path": r.url.split("/api", 1)[1], "headers": r.headers}))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def with_wallet(page: Page, live_stack: Any, sponsor: int) -> FakeWallet:
    chain = call_api(live_stack.api, "GET", "/chain")[1]
    wallet = FakeWallet(demo_sponsor_key(sponsor), chain["chain_id_hex"])
    page.expose_function("__fakeWallet", wallet)
    page.context.add_init_script(script=FAKE_WALLET)
    return wallet


def sign_in(page: Page, wallet_name: str) -> str:
    """Connect, choose the wallet, sign in; returns the session token the page keeps."""
    page.get_by_role("button", name="ウォレットをつなぐ").click()
    expect(page.locator("#sp-wallets-title")).to_be_focused()
    page.get_by_role("button", name=wallet_name).click()
    expect(page.locator("#sp-dashboard")).to_be_visible()
    expect(page.locator("#sp-account-title")).to_be_focused()
    expect(page.locator("#sp-dashboard-status")).to_have_text("サインインしました。")
    expect(page.locator("#sp-balance")).to_contain_text("JPYC")  # the dashboard has loaded
    session = page.evaluate("() => JSON.parse(sessionStorage.getItem('manabi-relay:sponsor-session'))")
    return str(session["token"])


def sent(page: Page, method: str, path: str) -> list[dict[str, Any]]:
    return [r for r in page.api_requests if r["method"] == method and r["path"] == path]  # type: ignore[attr-defined]


def test_sign_in_buy_and_lend_with_a_wallet(page: Page, live_stack: Any) -> None:
    wallet = with_wallet(page, live_stack, sponsor=2)
    page.goto(live_stack.url + DASHBOARD)
    token = sign_in(page, FAKE_WALLET_NAME)

    # Sign-in: an EIP-4361 message for this host and chain, with the checksummed address
    chain = call_api(live_stack.api, "GET", "/chain")[1]
    message = wallet.messages[0]
    host = live_stack.url.removeprefix("http://")
    assert message.startswith(f"{host} wants you to sign in with your Ethereum account:\n{wallet.account.address}\n")
    assert f"\nChain ID: {chain['chain_id']}\n" in message and "\nExpiration Time: " in message
    assert "wallet_switchEthereumChain" in wallet.calls
    expect(page.locator("#sp-address")).to_have_text(wallet.account.address)

    status, before = call_api(live_stack.api, "GET", "/sponsor/me", token=token)
    assert status == 200 and before["address"] == wallet.account.address
    expect(page.locator("#sp-balance")).to_have_text(jpyc_text(before["balances"]["jpyc_base_units"]))

    # Buy one right: the price comes from the chain
    program_id = page.locator('#sp-buy-form input[name="program_id"]').first.get_attribute("value")
    rights = call_api(live_stack.api, "GET", f"/programs/{program_id}/rights")[1]
    page.locator(f"#sp-buy-{program_id}").check()
    page.select_option("#sp-quantity", "1")
    expect(page.locator("#sp-buy-total")).to_have_text(jpyc_text(rights["price_base_units"]))
    with page.expect_response(lambda r: r.url.endswith("/api/purchases") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="署名して買う").click()
    assert answer.value.status == 202
    purchase_tx = answer.value.json()["tx_id"]
    expect(page.locator("#sp-buy-status")).to_contain_text("完了しました", timeout=DONE)
    assert wallet.typed[-1]["primaryType"] == "Permit"
    assert wallet.typed[-1]["message"]["value"] == rights["price_base_units"]

    status, bought = call_api(live_stack.api, "GET", "/sponsor/me", token=token)
    new = [t for t in bought["tokens"] if t["token_id"] not in {b["token_id"] for b in before["tokens"]}]
    assert len(new) == 1 and new[0]["status"] == "unused"
    token_id = new[0]["token_id"]
    spent = int(before["balances"]["jpyc_base_units"]) - int(bought["balances"]["jpyc_base_units"])
    assert spent == int(rights["price_base_units"])
    tx = call_api(live_stack.api, "GET", f"/transactions/{purchase_tx}")[1]
    assert tx["status"] == "confirmed" and tx["block_number"]
    right = page.locator("#sp-rights li", has_text=f"受講権 No.{token_id}")
    expect(right).to_contain_text("未使用")
    expect(page.locator("#sp-balance")).to_have_text(jpyc_text(bought["balances"]["jpyc_base_units"]))

    # Lend it to a waiting talent
    page.select_option("#sp-lend-token", str(token_id))
    talent = page.locator('#sp-talents input[name="talent_id"]').first
    talent_id = talent.get_attribute("value")
    talent.check()
    with page.expect_response(lambda r: r.url.endswith("/api/lendings") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="署名して貸し出す").click()
    assert answer.value.status == 202
    lending_tx = answer.value.json()["tx_id"]
    expect(page.locator("#sp-lend-status")).to_contain_text("完了しました", timeout=DONE)
    assert wallet.typed[-1]["primaryType"] == "Lend"
    expect(right).to_contain_text(re.compile(r"貸出中（\d{4}年\d{1,2}月\d{1,2}日まで）"))
    expect(page.locator("#sp-txs li")).to_have_count(2)
    expect(page.locator("#sp-txs li").first).to_contain_text("完了しました")

    status, lent = call_api(live_stack.api, "GET", "/sponsor/me", token=token)
    mine = next(t for t in lent["tokens"] if t["token_id"] == token_id)
    assert mine["status"] == "lent" and mine["user"] == talent_id
    assert call_api(live_stack.api, "GET", f"/transactions/{lending_tx}")[1]["status"] == "confirmed"
    waiting = call_api(live_stack.api, "GET", f"/talents?program_id={program_id}")[1]["talents"]
    assert talent_id not in {t["talent_id"] for t in waiting}

    # Each change went out once, with an Idempotency-Key
    for path in ("/purchases", "/lendings"):
        posts = sent(page, "POST", path)
        assert len(posts) == 1 and 8 <= len(posts[0]["headers"].get("idempotency-key", "")) <= 128, path
    assert page.problems == []  # type: ignore[attr-defined]  # also CSP violations


def test_a_rejected_signature_is_reported_and_nothing_is_sent(page: Page, live_stack: Any) -> None:
    wallet = with_wallet(page, live_stack, sponsor=3)
    page.goto(live_stack.url + DASHBOARD)

    # Rejecting the sign-in
    wallet.reject = {"personal_sign"}
    page.get_by_role("button", name="ウォレットをつなぐ").click()
    page.get_by_role("button", name=FAKE_WALLET_NAME).click()
    expect(page.locator("#sp-connect-status")).to_have_text("キャンセルされました。もう一度お試しいただけます。")
    assert sent(page, "POST", "/auth/login") == []
    expect(page.locator("#sp-dashboard")).to_be_hidden()

    # Signing in, then rejecting the purchase permit
    wallet.reject = {"eth_signTypedData_v4"}
    page.get_by_role("button", name=FAKE_WALLET_NAME).click()
    expect(page.locator("#sp-dashboard")).to_be_visible()
    expect(page.locator("#sp-balance")).to_contain_text("JPYC")  # the dashboard has loaded
    token = page.evaluate("() => JSON.parse(sessionStorage.getItem('manabi-relay:sponsor-session')).token")
    before = call_api(live_stack.api, "GET", "/sponsor/me", token=token)[1]
    page.get_by_role("button", name="署名して買う").click()
    expect(page.locator("#sp-buy-status")).to_have_text("キャンセルされました。もう一度お試しいただけます。")
    assert "eth_signTypedData_v4" in wallet.calls
    assert sent(page, "POST", "/purchases") == []
    after = call_api(live_stack.api, "GET", "/sponsor/me", token=token)[1]
    assert after["tokens"] == before["tokens"] and after["balances"] == before["balances"]
    assert page.problems == []  # type: ignore[attr-defined]


def test_without_a_wallet_the_page_says_so(page: Page, live_stack: Any) -> None:
    # As in production: no /dev/wallet, so the demo wallet stays silent, and no wallet is injected.
    page.route("**/dev/wallet", lambda route: route.fulfill(status=404, body="not found"))
    page.goto(live_stack.url + DASHBOARD)
    page.get_by_role("button", name="ウォレットをつなぐ").click()
    box = page.locator("#sp-nowallet")
    expect(box).to_be_visible()
    expect(box).to_be_focused()
    expect(box).to_contain_text("このブラウザには、使えるウォレットがありません。")
    expect(page.locator("#sp-connect-status")).to_have_text("ウォレットが見つかりません。")
    expect(page.locator("#sp-wallets")).to_be_hidden()
    assert [r for r in page.api_requests if r["path"].startswith("/auth/")] == []  # type: ignore[attr-defined]


def test_the_local_demo_wallet_signs_in_and_out(phone_page: Page, live_stack: Any) -> None:
    page = phone_page  # the site's own demo-wallet.js; CSP bypassed only so that axe can be added
    accounts = call_api(live_stack.url, "GET", "/dev/wallet")[1]["accounts"]
    page.goto(live_stack.url + DASHBOARD)
    page.get_by_role("button", name="ウォレットをつなぐ").click()
    choice = page.get_by_role("button", name=DEMO_WALLET_NAME)
    expect(choice).to_be_visible()
    assert (choice.locator("img").get_attribute("src") or "").startswith("data:image/svg+xml")
    expect(page.locator("#sp-wallet-list")).to_contain_text("本物のお金には使えません")
    token = sign_in(page, DEMO_WALLET_NAME)
    expect(page.locator("#sp-address")).to_have_text(accounts[0])
    status, me = call_api(live_stack.api, "GET", "/sponsor/me", token=token)
    assert status == 200 and me["address"] == accounts[0]
    expect(page.locator("#sp-balance")).to_have_text(jpyc_text(me["balances"]["jpyc_base_units"]))
    expect(page.locator("#sp-talents-hint")).to_be_visible()

    page.add_script_tag(content=AXE)
    violations = page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: "tag", values: tags}}))
            .violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(" "))}))""",
        AXE_TAGS,
    )
    assert violations == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    with page.expect_response(lambda r: r.url.endswith("/api/auth/logout")):
        page.get_by_role("button", name="サインアウト").click()
    expect(page.locator("#sp-connect-status")).to_have_text("サインアウトしました。")
    expect(page.locator("#sp-connect-title")).to_be_focused()
    assert page.evaluate("() => sessionStorage.getItem('manabi-relay:sponsor-session')") is None
    status, body = call_api(live_stack.api, "GET", "/sponsor/me", token=token)
    assert status == 401 and body["error"]["code"] == "session_expired"
