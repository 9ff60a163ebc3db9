"""The whole system on one machine: ``manabi dev``.

In one process, with embedded defaults:

* moto's ``ThreadedMotoServer`` (with the KMS DIGEST patch) as AWS: the tables,
  the operator's secp256k1 KMS key and an SES identity;
* the embedded py-evm chain with the contracts deployed, the KMS operator
  funded and given its roles, and (unless ``demo_data=False``) a demo
  programme and demo sponsors holding TestJPYC;
* the Chalice app, with the production routes, under ``/api``, and the built
  MkDocs site at ``/``;
* the scheduled functions on a short interval.

Everything here is for local use only: keys it prints are public knowledge.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from manabi.rpc import JsonRpcBridge

if TYPE_CHECKING:
    from web3 import Web3

    from manabi.deploy import Deployment

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = REPO_ROOT / "functions"
SITE_BUILD_DIR = REPO_ROOT / "build" / "site"
API_PREFIX = "/api"
REGION = "ap-northeast-1"
OPERATOR_KEY_ALIAS = "alias/manabi-operator"
DEMO_SPONSOR_COUNT = 3
DEMO_SPONSOR_JPYC = 1_000_000 * 10**18
OPERATOR_GAS_FUNDS = 100 * 10**18

logger = logging.getLogger("manabi.dev")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_sponsor_key(index: int) -> str:
    """Deterministic, publicly known demo keys: never use them anywhere real."""
    from eth_utils import keccak

    return "0x" + keccak(text=f"manabi-relay local demo sponsor {index}").hex()


@dataclass
class DemoSponsor:
    address: str
    private_key: str
    jpyc_balance: int


@dataclass
class LocalStackInfo:
    url: str
    api_url: str
    aws_endpoint: str
    rpc: str
    chain_id: int
    operator: str
    deployment: dict[str, Any]
    demo_sponsors: list[DemoSponsor] = field(default_factory=list)


class LocalStack:
    """Starts and stops every local component, in order."""

    def __init__(
        self,
        *,
        port: int = 8000,
        host: str = "127.0.0.1",
        rpc_url: str | None = None,
        demo_data: bool = True,
        build_site: bool = True,
        schedule_interval: float = 5.0,
    ) -> None:
        self.port = port
        self.host = host
        self.rpc_url = rpc_url
        self.demo_data = demo_data
        self.build_site = build_site
        self.schedule_interval = schedule_interval
        self._moto: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._site_dir: Path | None = None
        self.info: LocalStackInfo | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalStackInfo:
        aws_endpoint = self._start_aws()
        w3 = self._start_chain()
        from chalicelib.chain.operator import operator_signer
        from chalicelib.config import Settings

        os.environ["MANABI_SITE_DOMAIN"] = f"{self.host}:{self.port}"
        if not self.rpc_url:
            # Wallets can add the embedded chain through our JSON-RPC bridge.
            os.environ["MANABI_PUBLIC_RPC_URL"] = f"http://{self.host}:{self.port}/rpc"
        operator = operator_signer(Settings.from_env()).address
        deployment = self._deploy(w3, operator)
        self._configure_contracts(deployment)
        sponsors = self._load_demo_data(w3, deployment) if self.demo_data else []
        if self.build_site:
            # Each stack builds its own copy: a rebuild must never pull files from under
            # another stack that is serving the shared build/ folder.
            import tempfile

            self._site_dir = Path(tempfile.mkdtemp(prefix="manabi-site-"))
            build_site(self._site_dir)
        gateway = self._load_gateway()
        self._start_http(gateway, DemoWallet(sponsors), None if self.rpc_url else JsonRpcBridge(w3))
        self._start_scheduler(gateway)
        url = f"http://{self.host}:{self.port}"
        self.info = LocalStackInfo(
            url=url,
            api_url=url + API_PREFIX,
            aws_endpoint=aws_endpoint,
            rpc=self.rpc_url or "embedded py-evm (in process)",
            chain_id=int(w3.eth.chain_id),
            operator=operator,
            deployment=deployment.as_dict(),
            demo_sponsors=sponsors,
        )
        return self.info

    def stop(self) -> None:
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._moto is not None:
            self._moto.stop()
        if self._site_dir is not None:
            import shutil

            shutil.rmtree(self._site_dir, ignore_errors=True)
        from chalicelib import aws
        from chalicelib.chain import operator, provider

        provider.use_embedded_chain(None)
        operator.reset()
        aws.reset()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- AWS (moto) ---------------------------------------------------------------------------

    def _start_aws(self) -> str:
        from moto.server import ThreadedMotoServer

        from manabi.moto_atomic import apply_dynamodb_atomic_writes
        from manabi.moto_patch import apply_kms_digest_patch

        apply_kms_digest_patch()
        apply_dynamodb_atomic_writes()
        # moto's werkzeug server logs every request line; they'd drown the banner.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        port = free_port()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._moto.start()
        endpoint = f"http://127.0.0.1:{port}"
        # moto keeps its state in module globals, shared by every server in this
        # process: start from a clean account, as a fresh AWS account would be.
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "MANABI_STAGE": "local",
                "MANABI_TABLE_PREFIX": "manabi-local-",
                "MANABI_OPERATOR_KEY_ID": OPERATOR_KEY_ALIAS,
                "MANABI_RPC_URL": self.rpc_url or "embedded",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        from chalicelib import aws, tables
        from chalicelib.config import Settings

        aws.reset()
        tables.create_all(Settings.from_env())
        kms = aws.client("kms")
        key_id = kms.create_key(
            KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY", Description="Manabi Relay operator (local)"
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=OPERATOR_KEY_ALIAS, TargetKeyId=key_id)
        # The HMAC key that derives selected talents' pseudonymous addresses.
        talent_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC",
                                    Description="Manabi Relay talent ids (local)")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=Settings.from_env().talent_key_id, TargetKeyId=talent_key)
        aws.client("ses").verify_email_identity(EmailAddress=Settings.from_env().mail_sender)
        return endpoint

    # -- chain --------------------------------------------------------------------------------

    def _start_chain(self) -> Web3:
        from web3 import HTTPProvider, Web3

        from chalicelib.chain import provider

        if self.rpc_url:
            w3 = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 10}))
        else:
            w3 = Web3(provider.embedded_provider())
            provider.use_embedded_chain(w3)
        os.environ["MANABI_CHAIN_ID"] = str(w3.eth.chain_id)
        return w3

    def _deploy(self, w3: Web3, operator: str) -> Deployment:
        from manabi.deploy import deploy_contracts

        deployer, treasury = w3.eth.accounts[0], w3.eth.accounts[1]
        deployment = deploy_contracts(w3, deployer=deployer, operator=operator, treasury=treasury)
        _wait(w3, w3.eth.send_transaction({"from": deployer, "to": operator, "value": OPERATOR_GAS_FUNDS}))
        return deployment

    def _configure_contracts(self, deployment: Deployment) -> None:
        os.environ.update(
            {
                "MANABI_JPYC_ADDRESS": deployment.jpyc,
                "MANABI_RIGHTS_ADDRESS": deployment.rights,
                "MANABI_DISTRIBUTOR_ADDRESS": deployment.distributor,
                "MANABI_ANCHOR_ADDRESS": deployment.anchor,
            }
        )

    def _load_demo_data(self, w3: Web3, deployment: Deployment) -> list[DemoSponsor]:
        from manabi.demo import load_demo_data

        return load_demo_data(w3, deployment)

    # -- HTTP --------------------------------------------------------------------------------

    def _load_gateway(self) -> Any:
        from chalice.cli.factory import CLIFactory
        from chalice.local import LocalGateway

        factory = CLIFactory(project_dir=str(FUNCTIONS_DIR), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name="local")
        app = factory.load_chalice_app()
        return LocalGateway(app, config)

    def _start_http(self, gateway: Any, wallet: DemoWallet, rpc: JsonRpcBridge | None) -> None:
        handler = _make_handler(gateway, self._site_dir or SITE_BUILD_DIR, wallet, rpc)
        self._http = ThreadingHTTPServer((self.host, self.port), handler)
        self._http.daemon_threads = True
        thread = threading.Thread(target=self._http.serve_forever, name="http", daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- schedules ---------------------------------------------------------------------------

    def _start_scheduler(self, gateway: Any) -> None:
        app = gateway._app_object  # noqa: SLF001 - chalice keeps the app object there
        jobs = {
            source.name: app.handler_map[source.name]
            for source in app.event_sources
            if type(source).__name__ in ("ScheduledEventConfig", "CloudWatchEventConfig")
        }

        def run() -> None:
            while not self._stopping.wait(self.schedule_interval):
                for name, handler in jobs.items():
                    try:
                        handler(_scheduled_event(name), None)
                    except Exception:  # noqa: BLE001 - a failing job must not stop the others
                        logger.exception("scheduled job failed", extra={"job": name})

        thread = threading.Thread(target=run, name="scheduler", daemon=True)
        thread.start()
        self._threads.append(thread)


def build_site(target: Path = SITE_BUILD_DIR) -> None:
    """Build the MkDocs site (strict) into ``target``."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(target)],
        cwd=REPO_ROOT,
        check=True,
    )


def _scheduled_event(name: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"local-{name}-{time.time_ns()}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:000000000000:rule/{name}"],
        "detail": {},
    }


def _wait(w3: Web3, tx_hash: Any) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise RuntimeError(f"local setup transaction {tx_hash.hex()} failed")


class DemoWallet:
    """Signs for the demo sponsors, so a newcomer can try the sponsor pages without a wallet.

    Served by the local stack only (``/dev/wallet``), never by the Lambda app.
    The page wraps it in an EIP-1193 provider announced through EIP-6963.
    """

    def __init__(self, sponsors: list[DemoSponsor]) -> None:
        self._keys = {s.address.lower(): s.private_key for s in sponsors}
        self.accounts = [s.address for s in sponsors]

    def sign(self, address: str, method: str, params: list[Any]) -> str:
        from eth_account import Account
        from eth_account.messages import encode_defunct, encode_typed_data

        key = self._keys.get(str(address).lower())
        if key is None:
            raise ValueError("not a demo account")
        if method == "personal_sign":
            message = params[0]
            data = bytes.fromhex(message[2:]) if message.startswith("0x") else message.encode()
            signable = encode_defunct(primitive=data)
        elif method == "eth_signTypedData_v4":
            typed = params[1] if isinstance(params[1], dict) else json.loads(params[1])
            signable = encode_typed_data(full_message=typed)
        else:
            raise ValueError(f"unsupported method {method}")
        return str(Account.sign_message(signable, key).signature.to_0x_hex())


def _make_handler(gateway: Any, site_dir: Path, wallet: DemoWallet | None = None,
                  rpc: JsonRpcBridge | None = None) -> type[BaseHTTPRequestHandler]:
    from chalice.local import LocalGatewayException

    # Chalice keeps the current request on the app object, shared by every thread;
    # Lambda runs one request per container at a time, so the local stack does too.
    gateway_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "manabi-dev"
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # delayed ACKs hold every response on a kept-alive connection for ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            # Paths only, never bodies or query strings: they may carry personal data.
            logger.debug("%s %s", self.command, urlsplit(self.path).path)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
            """Send ``data`` with ``headers`` (Content-Length is added here)."""
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _plain(self, status: int, data: bytes) -> None:
            self._reply(status, data, [("Content-Type", "text/plain; charset=utf-8")])

        def _json(self, status: int, data: bytes) -> None:
            self._reply(status, data, [("Content-Type", "application/json")])

        def _api(self) -> None:
            body = self._body() or None
            path = self.path[len(API_PREFIX):] or "/"
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                with gateway_lock:
                    response = gateway.handle_request(self.command, path, headers, body)
            except LocalGatewayException as exc:
                response = {"statusCode": exc.CODE, "headers": exc.headers, "body": exc.body}
            payload = response.get("body") or b""
            if response.get("isBase64Encoded"):
                import base64

                payload = base64.b64decode(payload)
            if isinstance(payload, str):
                payload = payload.encode("utf-8")
            reply_headers = [(name, value) for name, value in (response.get("headers") or {}).items()
                             if name.lower() not in ("content-length", "connection")]
            reply_headers += [(name, value) for name, values in (response.get("multiValueHeaders") or {}).items()
                              for value in values]
            self._reply(int(response["statusCode"]), payload, reply_headers)

        def _static(self) -> None:
            if self.command not in ("GET", "HEAD"):
                self._plain(405, b"method not allowed")
                return
            relative = unquote(urlsplit(self.path).path).lstrip("/")
            target = (site_dir / relative).resolve()
            if not str(target).startswith(str(site_dir.resolve())):
                self._plain(404, b"not found")
                return
            if target.is_dir():
                target = target / "index.html"
            status = 200
            if not target.is_file():
                target, status = site_dir / "404.html", 404
                if not target.is_file():
                    self._plain(404, b"not found")
                    return
            ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
                ctype += "; charset=utf-8"
            self._reply(status, target.read_bytes(), [("Content-Type", ctype), ("Cache-Control", "no-cache")])

        def _demo_wallet(self) -> None:
            if wallet is None:
                self._plain(404, b"not found")
                return
            if self.command == "GET":
                self._json(200, json.dumps({"accounts": wallet.accounts}).encode())
                return
            try:
                request = json.loads(self._body())
                signature = wallet.sign(request["address"], request["method"], request["params"])
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                self._json(400, json.dumps({"error": str(exc)}).encode())
                return
            self._json(200, json.dumps({"result": signature}).encode())

        def _rpc(self) -> None:
            if rpc is None or self.command != "POST":
                self._plain(404, b"not found")
                return
            self._json(200, rpc.handle(self._body()))

        def _dispatch(self) -> None:
            path = urlsplit(self.path).path
            if path == "/rpc":
                self._rpc()
            elif path == "/dev/wallet":
                self._demo_wallet()
            elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                self._api()
            else:
                self._static()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch  # noqa: N815

    return Handler


def describe(info: LocalStackInfo) -> str:
    """The start-up banner: what runs where."""
    lines = [
        "Manabi Relay local stack is running",
        f"  site         {info.url}/",
        f"  API          {info.api_url}/  (try {info.api_url}/health)",
        f"  AWS (moto)   {info.aws_endpoint}  tables, KMS operator key, SES",
        f"  chain        {info.rpc}  chain id {info.chain_id}"
        + ("" if info.rpc.startswith("http") else f"  (JSON-RPC for wallets: {info.url}/rpc)"),
        f"  operator     {info.operator}  (key in KMS {OPERATOR_KEY_ALIAS})",
        "  contracts    " + json.dumps(
            {k: v for k, v in info.deployment.items() if k != "chain_id"}, ensure_ascii=False
        ),
    ]
    if info.demo_sponsors:
        lines.append("  demo sponsors (LOCAL DEMO ONLY: these keys are public, never use them on a real chain)")
        for sponsor in info.demo_sponsors:
            lines.append(
                f"    {sponsor.address}  key {sponsor.private_key}  {sponsor.jpyc_balance // 10**18:,} JPYC"
            )
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)
