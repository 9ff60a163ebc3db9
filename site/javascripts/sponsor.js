/*
 * まなびリレー sponsor dashboard (site/sponsor-dashboard.md). Plain JS, no dependencies.
 *
 * - Wallets are found with EIP-6963 (listen for eip6963:announceProvider, then
 *   dispatch eip6963:requestProvider when the visitor presses "ウォレットをつなぐ");
 *   window.ethereum is only a fallback. Icons are shown through <img> only.
 * - Sign-In with Ethereum (EIP-4361): nonce from the API, message signed with
 *   personal_sign, bearer token kept in sessionStorage (gone when the tab closes).
 * - Buying signs a JPYC permit and lending signs a Lend message
 *   (eth_signTypedData_v4, typed data from the API's quote); the city's relayer
 *   sends the transactions, and this page follows them until they are confirmed.
 * - Every POST that changes something carries an Idempotency-Key. A retry of the
 *   same signed request (after a lost answer) resends it with the same key, so a
 *   double press or a flaky network never makes two purchases.
 * - Buttons are never disabled; a second press while one is running does nothing.
 * - Nothing is fetched until the visitor signs in (or is signed in already).
 * - JPYC amounts are base-unit integer strings, shown with BigInt only.
 * - The API base comes from <meta name="manabi-api-base"> (mkdocs.yml extra.api_base).
 */
(function () {
  "use strict";

  const app = document.getElementById("sp-app");
  if (!app || !window.fetch || !window.crypto || typeof BigInt !== "function" || !window.sessionStorage) return;

  const $ = (id) => document.getElementById(id);
  const meta = document.querySelector('meta[name="manabi-api-base"]');
  const apiBase = ((meta && meta.content) || "/api").replace(/\/+$/, "");
  const SESSION_KEY = "manabi-relay:sponsor-session";
  const TXS_KEY = "manabi-relay:sponsor-transactions";
  const DEMO_RDNS = "local.manabi-relay.demo-wallet";
  const DISCOVERY_MS = 600; // how long to wait for wallets to announce themselves
  const STATEMENT = "Sign in to Manabi Relay as a sponsor. Signing in moves no money.";
  const SIGN_IN_MINUTES = 10;

  const TEXT = {
    finding: "ウォレットを探しています…",
    connecting: "接続中…（ウォレットの画面を確認してください）",
    signing: "署名を待っています。ウォレットの画面で内容を確かめて、署名してください。",
    cancelled: "キャンセルされました。もう一度お試しいただけます。",
    checking: "確認しています…",
    sent: "送信しました。ブロックチェーンに記録されるのを待っています…",
    done: "完了しました。",
    failed: "失敗しました。",
    loading: "読み込んでいます…",
  };

  // Codes whose API message is not written for sponsors (or is English)
  const CODES = {
    wrong_domain: "このページのアドレスが、サービスの設定と違います。正しいアドレスでページを開き直してください。",
    wrong_chain: "ウォレットのネットワークが違います。ネットワークを切り替えてから、もう一度お試しください。",
    expired_message: "署名の有効期限が切れました。端末の時計が合っているか確かめて、もう一度お試しください。",
    not_yet_valid: "署名がまだ有効になっていません。端末の時計が合っているか確かめて、もう一度お試しください。",
    invalid_signature: "署名を確かめられませんでした。もう一度お試しください。",
    invalid_nonce: "サインインの手続きが古くなりました。もう一度お試しください。",
    malformed_message: "サインインの内容を読み取れませんでした。ページを読み込み直して、もう一度お試しください。",
    session_required: "サインインしてください。",
    session_expired: "サインインの有効期限が切れました。もう一度サインインしてください。",
    signer_mismatch: "署名したアカウントが、サインイン中のアカウントと違います。ウォレットでアカウントを切り替えてください。",
    contract_refused: "ブロックチェーン上の手続きが受け付けられませんでした。",
    request_in_progress: "前の手続きを処理しています。少し待ってから、もう一度お試しください。",
    idempotency_key_reused: "前の手続きと内容が違います。ページを読み込み直して、もう一度お試しください。",
    token_not_found: "この受講権は見つかりません。「最新の情報にする」を押してください。",
    token_lent: "この受講権は、すでに貸出中です。",
    token_consumed: "この受講権は、すでに使用済みです。",
    program_not_on_chain: "この講座の受講権は、まだ販売していません。",
  };
  const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;

  // Formatting ------------------------------------------------------------------

  let decimals = 18n;

  /** "55,000 JPYC" from a base-unit integer string; BigInt only, never floats. */
  function jpyc(baseUnits) {
    const value = BigInt(baseUnits);
    const unit = 10n ** decimals;
    let text = (value / unit).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const fraction = value % unit;
    if (fraction) text += "." + fraction.toString().padStart(Number(decimals), "0").replace(/0+$/, "");
    return text + " JPYC";
  }

  /** 2027年5月31日, in Japan time, from Unix seconds. */
  function jday(seconds) {
    const d = new Date((Number(seconds) + 9 * 3600) * 1000);
    return d.getUTCFullYear() + "年" + (d.getUTCMonth() + 1) + "月" + d.getUTCDate() + "日";
  }

  // EIP-55 needs Keccak-256 (not SHA-3, so crypto.subtle can't help): a compact
  // Keccak-f[1600] on BigInt lanes. It hashes 40 characters once per sign-in.
  const MASK = (1n << 64n) - 1n;
  const ROTC = [1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44];
  const PILN = [10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1];
  const RC = [];
  for (let i = 0, r = 1; i < 24; i++) {
    let c = 0n;
    for (let j = 0; j < 7; j++) {
      if (r & 1) c |= 1n << BigInt((1 << j) - 1);
      r = r & 0x80 ? ((r << 1) ^ 0x71) & 0xff : (r << 1) & 0xff;
    }
    RC.push(c);
  }
  const rotl = (x, n) => ((x << BigInt(n)) | (x >> BigInt(64 - n))) & MASK;

  function keccakF(s) {
    const b = [0n, 0n, 0n, 0n, 0n];
    for (let round = 0; round < 24; round++) {
      for (let i = 0; i < 5; i++) b[i] = s[i] ^ s[i + 5] ^ s[i + 10] ^ s[i + 15] ^ s[i + 20];
      for (let i = 0; i < 5; i++) {
        const t = b[(i + 4) % 5] ^ rotl(b[(i + 1) % 5], 1);
        for (let j = 0; j < 25; j += 5) s[j + i] ^= t;
      }
      let t = s[1];
      for (let i = 0; i < 24; i++) {
        const j = PILN[i];
        const next = s[j];
        s[j] = rotl(t, ROTC[i]);
        t = next;
      }
      for (let j = 0; j < 25; j += 5) {
        for (let i = 0; i < 5; i++) b[i] = s[j + i];
        for (let i = 0; i < 5; i++) s[j + i] ^= (b[(i + 1) % 5] ^ MASK) & b[(i + 2) % 5];
      }
      s[0] ^= RC[round];
    }
  }

  function keccak256Hex(bytes) {
    const rate = 136;
    const padded = new Uint8Array((Math.floor(bytes.length / rate) + 1) * rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    const s = new Array(25).fill(0n);
    for (let offset = 0; offset < padded.length; offset += rate) {
      for (let i = 0; i < rate / 8; i++) {
        let lane = 0n;
        for (let k = 7; k >= 0; k--) lane = (lane << 8n) | BigInt(padded[offset + i * 8 + k]);
        s[i] ^= lane;
      }
      keccakF(s);
    }
    let hex = "";
    for (let i = 0; i < 4; i++) {
      for (let k = 0; k < 8; k++) hex += Number((s[i] >> BigInt(8 * k)) & 0xffn).toString(16).padStart(2, "0");
    }
    return hex;
  }

  /** The EIP-55 checksummed form of an address (wallets often give lowercase). */
  function checksummed(address) {
    const lower = String(address).toLowerCase().replace(/^0x/, "");
    if (!/^[0-9a-f]{40}$/.test(lower)) throw new Error("not an address: " + address);
    const hash = keccak256Hex(new TextEncoder().encode(lower));
    let out = "0x";
    for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
    return out;
  }

  function utf8Hex(text) {
    return "0x" + [...new TextEncoder().encode(text)].map((x) => x.toString(16).padStart(2, "0")).join("");
  }

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return [...crypto.getRandomValues(new Uint8Array(16))].map((x) => x.toString(16).padStart(2, "0")).join("");
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Status lines (each is an aria-live region) ---------------------------------

  function say(element, text, kind) {
    element.textContent = text;
    element.classList.toggle("sp-status--failed", kind === "failed");
    element.classList.toggle("sp-status--done", kind === "done");
  }

  // The API ---------------------------------------------------------------------

  // One request at a time: a dashboard load is only a few small requests, and the
  // local stack's Chalice gateway mixes up requests that arrive together.
  let queue = Promise.resolve();

  /** {status, data}; status 0 when the network failed or the request timed out. */
  function api(method, path, options) {
    const result = queue.then(() => send(method, path, options));
    queue = result.catch(() => {});
    return result;
  }

  async function send(method, path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.auth && session) headers.Authorization = "Bearer " + session.token;
    if (opts.key) headers["Idempotency-Key"] = opts.key;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 30000);
    try {
      const response = await fetch(apiBase + path, {
        method: method,
        headers: headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: abort.signal,
      });
      const data = await response.json().catch(() => null);
      if (response.status === 401 && opts.auth) sessionEnded(data);
      return { status: response.status, data: data };
    } catch (err) {
      return { status: 0, data: null };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A Japanese sentence for a failed API answer. */
  function apiMessage(status, data) {
    const error = (data && data.error) || {};
    if (status === 0) return "通信がうまくいきませんでした。電波の届くところで、もう一度お試しください。";
    if (status === 422 && data && Array.isArray(data.errors) && data.errors.length) {
      return data.errors.map((e) => e.message).join(" ");
    }
    let text = CODES[error.code] || (JAPANESE.test(error.message || "") ? error.message : "");
    if (error.code === "contract_refused" && data.error.reason) text += "（" + data.error.reason + "）";
    if (text) return text;
    if (status === 429) return "ただいま混み合っています。1分ほど待ってから、もう一度お試しください。";
    if (status >= 500) return "システムで問題が起きました。少し時間をおいて、もう一度お試しください。";
    return "手続きができませんでした（エラー番号 " + status + (error.code ? "、" + error.code : "") + "）。";
  }

  /** Answers that may be retried with the same Idempotency-Key and the same body. */
  function retryable(status, data) {
    const code = data && data.error && data.error.code;
    return status === 0 || status >= 500 || code === "request_in_progress";
  }

  let chainPromise = null;
  let explorerBase = ""; // block_explorer_url, once GET /chain has answered
  function chainConfig() {
    if (!chainPromise) {
      chainPromise = api("GET", "/chain").then(({ status, data }) => {
        if (status !== 200 || !data) {
          chainPromise = null;
          throw Object.assign(new Error("chain"), { japanese: apiMessage(status, data) });
        }
        decimals = BigInt((data.jpyc && data.jpyc.decimals) || 18);
        explorerBase = data.block_explorer_url || "";
        return data;
      });
    }
    return chainPromise;
  }

  // Wallet discovery (EIP-6963) -------------------------------------------------

  const wallets = new Map(); // uuid -> {info, provider}
  const walletList = $("sp-wallet-list");
  const walletsBox = $("sp-wallets");
  const noWallet = $("sp-nowallet");
  let discovering = false;
  let chooserShown = false;

  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail;
    if (!detail || !detail.info || !detail.provider || typeof detail.provider.request !== "function") return;
    const uuid = String(detail.info.uuid || "");
    if (!uuid || wallets.has(uuid)) return;
    wallets.set(uuid, { info: detail.info, provider: detail.provider });
    if (chooserShown) renderWallets();
    if (restoring && session && detail.info.rdns === session.wallet) wallet = wallets.get(uuid);
  });

  function requestWallets() {
    window.dispatchEvent(new Event("eip6963:requestProvider"));
  }

  function legacyWallet() {
    if (!window.ethereum || typeof window.ethereum.request !== "function") return null;
    const name = window.ethereum.isMetaMask ? "MetaMask" : "このブラウザのウォレット";
    return { info: { uuid: "window.ethereum", name: name, icon: "", rdns: "window.ethereum" }, provider: window.ethereum };
  }

  function renderWallets() {
    const items = [...wallets.values()];
    if (!items.length) {
      const legacy = legacyWallet();
      if (legacy) items.push(legacy);
    }
    walletList.replaceChildren();
    for (const item of items) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sp-wallet";
      const icon = item.info.icon;
      if (typeof icon === "string" && /^data:image\//.test(icon)) {
        const img = document.createElement("img");
        img.src = icon; // never innerHTML: an icon is untrusted data
        img.alt = "";
        img.width = 32;
        img.height = 32;
        button.append(img);
      }
      const name = document.createElement("span");
      name.textContent = String(item.info.name || "名前のないウォレット").slice(0, 80);
      button.append(name);
      button.addEventListener("click", () => signIn(item));
      li.append(button);
      if (item.info.rdns === DEMO_RDNS) {
        const note = document.createElement("p");
        note.className = "sp-wallet__note";
        note.textContent =
          "このパソコンで動かしている試験用のウォレットです。鍵は公開されているため、本物のお金には使えません。";
        li.append(note);
      }
      walletList.append(li);
    }
    walletsBox.hidden = items.length === 0;
    noWallet.hidden = items.length !== 0;
    return items.length;
  }

  $("sp-connect-button").addEventListener("click", async () => {
    if (discovering || signingIn) return;
    discovering = true;
    const status = $("sp-connect-status");
    say(status, TEXT.finding);
    requestWallets();
    chainConfig().catch(() => {}); // warm up; errors are reported when signing in
    await sleep(DISCOVERY_MS);
    discovering = false;
    chooserShown = true;
    const found = renderWallets();
    if (found) {
      say(status, "");
      $("sp-wallets-title").focus();
    } else {
      say(status, "ウォレットが見つかりません。", "failed");
      noWallet.focus();
    }
  });

  // Talking to the chosen wallet (EIP-1193) -------------------------------------

  let wallet = null; // {info, provider}
  let restoring = false;

  function walletCode(err) {
    if (!err) return undefined;
    if (err.code === "ACTION_REJECTED") return 4001;
    const inner = err.data && err.data.originalError;
    return inner && inner.code !== undefined ? inner.code : err.code;
  }

  /** Thrown for a refusal or failure the visitor must read; `kind` decides the wording. */
  class Stop extends Error {
    constructor(kind, text) {
      super(text || kind);
      this.kind = kind;
      this.text = text || "";
    }
  }

  async function walletCall(method, params) {
    try {
      return await wallet.provider.request(params === undefined ? { method: method } : { method: method, params: params });
    } catch (err) {
      const code = walletCode(err);
      if (code === 4001) throw new Stop("cancelled");
      if (code === -32002) throw new Stop("failed", "ウォレットに確認待ちの画面があります。ウォレットを開いて確かめてください。");
      throw err;
    }
  }

  /** Make the wallet use the configured chain (switch, or add it when it does not know it). */
  async function useChain(chain) {
    const current = String(await walletCall("eth_chainId")).toLowerCase();
    if (current === chain.chain_id_hex.toLowerCase()) return;
    try {
      await walletCall("wallet_switchEthereumChain", [{ chainId: chain.chain_id_hex }]);
      return;
    } catch (err) {
      if (err instanceof Stop || walletCode(err) !== 4902) throw err;
    }
    if (!chain.rpc_urls || !chain.rpc_urls.length) {
      throw new Stop(
        "failed",
        "ウォレットに、このサービスのネットワーク（" + chain.chain_name + "、チェーンID " + chain.chain_id + "）がありません。" +
          "これはこのパソコンだけで動かしている開発用のネットワークのため、ウォレットには追加できません。" +
          "「まなびリレー デモウォレット（ローカル専用）」を選んでください。",
      );
    }
    const params = {
      chainId: chain.chain_id_hex,
      chainName: chain.chain_name,
      rpcUrls: chain.rpc_urls,
      nativeCurrency: chain.native_currency,
    };
    if (chain.block_explorer_url) params.blockExplorerUrls = [chain.block_explorer_url];
    await walletCall("wallet_addEthereumChain", [params]);
    const now = String(await walletCall("eth_chainId")).toLowerCase();
    if (now !== chain.chain_id_hex.toLowerCase()) {
      await walletCall("wallet_switchEthereumChain", [{ chainId: chain.chain_id_hex }]);
    }
  }

  /** Before a signature: the sign-in's wallet, on the right account and chain. */
  async function readyWallet() {
    if (!wallet) {
      restoring = true;
      requestWallets();
      await sleep(DISCOVERY_MS);
      restoring = false;
    }
    if (!wallet && session.wallet === "window.ethereum") wallet = legacyWallet();
    if (!wallet) {
      throw new Stop("failed", "サインインに使ったウォレットが見つかりません。いったんサインアウトして、もう一度ウォレットをつないでください。");
    }
    let accounts = await walletCall("eth_accounts");
    const mine = (list) => Array.isArray(list) && list.some((a) => String(a).toLowerCase() === session.address.toLowerCase());
    if (!mine(accounts)) accounts = await walletCall("eth_requestAccounts");
    if (!mine(accounts)) {
      throw new Stop("failed", "ウォレットで選ばれているアカウントが、サインイン中のアカウント（" + session.address + "）と違います。ウォレットでアカウントを切り替えてください。");
    }
    await useChain(await chainConfig());
  }

  function stopMessage(err) {
    if (err instanceof Stop) return err.kind === "cancelled" ? TEXT.cancelled : TEXT.failed + err.text;
    if (err && err.japanese) return TEXT.failed + err.japanese;
    const detail = err && err.message ? "（" + String(err.message).slice(0, 200) + "）" : "";
    return TEXT.failed + "ウォレットでエラーが起きました" + detail + "。もう一度お試しください。";
  }

  function stopKind(err) {
    return err instanceof Stop && err.kind === "cancelled" ? "" : "failed";
  }

  // Sign-in (EIP-4361) ------------------------------------------------------------

  let session = null; // {token, address, expires_at, wallet}
  let signingIn = false;

  function loadSession() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (saved && saved.token && Date.parse(saved.expires_at) > Date.now()) return saved;
    } catch (err) {
      /* a damaged entry is the same as none */
    }
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  }

  function siweMessage(address, chainId, nonce) {
    const now = new Date();
    const expires = new Date(now.getTime() + SIGN_IN_MINUTES * 60000);
    return [
      location.host + " wants you to sign in with your Ethereum account:",
      address,
      "",
      STATEMENT,
      "",
      "URI: " + location.origin + location.pathname,
      "Version: 1",
      "Chain ID: " + chainId,
      "Nonce: " + nonce,
      "Issued At: " + now.toISOString(),
      "Expiration Time: " + expires.toISOString(),
    ].join("\n");
  }

  async function signIn(item) {
    if (signingIn) return;
    signingIn = true;
    const status = $("sp-connect-status");
    wallet = item;
    try {
      say(status, TEXT.connecting);
      const accounts = await walletCall("eth_requestAccounts");
      if (!Array.isArray(accounts) || !accounts.length) throw new Stop("failed", "ウォレットにアカウントがありません。");
      const address = checksummed(accounts[0]);
      const chain = await chainConfig();
      await useChain(chain);
      const nonce = await api("POST", "/auth/nonce", { body: {} });
      if (nonce.status !== 201 || !nonce.data) throw new Stop("failed", apiMessage(nonce.status, nonce.data));
      const message = siweMessage(address, chain.chain_id, nonce.data.nonce);
      say(status, TEXT.signing);
      const signature = await walletCall("personal_sign", [utf8Hex(message), address]);
      say(status, TEXT.checking);
      const login = await api("POST", "/auth/login", { body: { message: message, signature: signature } });
      if (login.status !== 200 || !login.data) throw new Stop("failed", apiMessage(login.status, login.data));
      session = {
        token: login.data.token,
        address: login.data.address,
        expires_at: login.data.expires_at,
        wallet: item.info.rdns || item.info.uuid,
      };
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
      say(status, "");
      showDashboard(true);
      say($("sp-dashboard-status"), "サインインしました。");
    } catch (err) {
      wallet = null;
      say(status, stopMessage(err), stopKind(err));
    } finally {
      signingIn = false;
    }
  }

  function sessionEnded(data) {
    if (!session) return;
    const code = data && data.error && data.error.code;
    forget();
    showConnect(CODES[code] || CODES.session_expired);
  }

  function forget() {
    session = null;
    wallet = null;
    pending.buy = pending.lend = null;
    sessionStorage.removeItem(SESSION_KEY);
    sessionStorage.removeItem(TXS_KEY);
    transactions.length = 0;
    mine = null;
    talents = [];
    $("sp-balance").textContent = TEXT.loading;
    for (const id of ["sp-rights", "sp-txs", "sp-payouts", "sp-talents"]) $(id).replaceChildren();
    say($("sp-dashboard-status"), "");
    say($("sp-lend-status"), "");
    if (buyForm) say($("sp-buy-status"), "");
  }

  $("sp-signout").addEventListener("click", async () => {
    if (!session) return;
    const token = session.token;
    forget();
    showConnect("サインアウトしました。");
    // the session ends on the server too; a failure here only leaves it to expire
    fetch(apiBase + "/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + token } }).catch(() => {});
  });

  function showConnect(message) {
    $("sp-dashboard").hidden = true;
    $("sp-connect").hidden = false;
    walletsBox.hidden = true;
    noWallet.hidden = true;
    chooserShown = false;
    say($("sp-connect-status"), message || "");
    $("sp-connect-title").focus();
  }

  function showDashboard(focus) {
    $("sp-connect").hidden = true;
    $("sp-dashboard").hidden = false;
    $("sp-address").textContent = session.address;
    renderTransactions();
    if (focus) $("sp-account-title").focus();
    refresh();
  }

  // The dashboard -----------------------------------------------------------------

  const programs = [...document.querySelectorAll("#sp-programs [data-program-id]")].map((el) => ({
    id: el.dataset.programId,
    chainId: Number(el.dataset.chainProgramId),
    title: el.dataset.title,
  }));
  const buyForm = $("sp-buy-form");
  const buyable = buyForm ? [...buyForm.querySelectorAll('input[name="program_id"]')].map((r) => r.value) : [];
  const rights = {}; // program id -> GET /programs/{id}/rights
  let talents = []; // waiting talents of the programmes on sale
  let mine = null; // GET /sponsor/me
  let refreshing = null;

  function titleOf(chainProgramId) {
    const program = programs.find((p) => p.chainId === Number(chainProgramId));
    return program ? program.title : "講座番号 " + chainProgramId;
  }

  function programOfToken(token) {
    return programs.find((p) => p.chainId === Number(token.chain_program_id));
  }

  /** Reload everything the dashboard shows; concurrent calls share one load. */
  function refresh() {
    if (!refreshing) {
      refreshing = load().finally(() => (refreshing = null));
    }
    return refreshing;
  }

  async function load() {
    const status = $("sp-dashboard-status");
    if (!mine) say(status, TEXT.loading);
    const [me, ...rest] = await Promise.all([
      api("GET", "/sponsor/me", { auth: true }),
      ...buyable.map((id) => api("GET", "/programs/" + encodeURIComponent(id) + "/rights")),
      ...buyable.map((id) => api("GET", "/talents?program_id=" + encodeURIComponent(id))),
      chainConfig().catch(() => null),
    ]);
    if (!session) return; // signed out (or the session ended) meanwhile
    let failed = me.status !== 200;
    buyable.forEach((id, i) => {
      const answer = rest[i];
      rights[id] = answer.status === 200 ? answer.data : { error: answer };
    });
    const waiting = [];
    buyable.forEach((id, i) => {
      const answer = rest[buyable.length + i];
      if (answer.status === 200 && answer.data) waiting.push(...answer.data.talents);
      else failed = true;
    });
    talents = waiting;
    if (me.status === 200) mine = me.data;
    renderPrices();
    if (mine) renderMine();
    renderTalents();
    if (failed) {
      const why = me.status === 200 ? "" : apiMessage(me.status, me.data);
      say(status, TEXT.failed + "情報の一部を読み込めませんでした。" + why + "「最新の情報にする」を押してください。", "failed");
    } else if (status.textContent === TEXT.loading || status.classList.contains("sp-status--failed")) {
      say(status, "");
    }
  }

  $("sp-refresh").addEventListener("click", async () => {
    const status = $("sp-dashboard-status");
    say(status, TEXT.loading);
    await refresh();
    if (status.textContent === TEXT.loading) say(status, "最新の情報にしました。");
  });

  function item(title, detail, badge) {
    const li = document.createElement("li");
    const head = document.createElement("span");
    head.className = "sp-item__title";
    head.textContent = title;
    li.append(head);
    for (const line of [].concat(detail || [])) {
      if (!line) continue;
      const span = document.createElement("span");
      span.className = "sp-item__detail";
      if (typeof line === "string") span.textContent = line;
      else span.append(line);
      li.append(span);
    }
    if (badge) {
      const mark = document.createElement("span");
      mark.className = "sp-badge sp-badge--" + badge[0];
      mark.textContent = badge[1];
      li.append(mark);
    }
    return li;
  }

  function statusOfRight(token) {
    if (token.status === "unused") return ["unused", "未使用"];
    if (token.status === "lent") return ["lent", "貸出中（" + jday(token.lent_until) + "まで）"];
    if (token.status === "consumed") return ["consumed", "使用済"];
    return ["consumed", String(token.status)];
  }

  function explorerLink(url, text) {
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) return null;
    const a = document.createElement("a");
    a.href = url;
    a.rel = "noopener";
    a.textContent = text || "ブロックチェーンの記録を見る（外部サイト）";
    return a;
  }

  function renderMine() {
    $("sp-balance").textContent = jpyc(mine.balances.jpyc_base_units);
    const list = $("sp-rights");
    list.replaceChildren(
      ...mine.tokens.map((t) => item(titleOf(t.chain_program_id), "受講権 No." + t.token_id, statusOfRight(t))),
    );
    $("sp-rights-empty").hidden = mine.tokens.length > 0;

    const select = $("sp-lend-token");
    const before = select.value;
    const unused = mine.tokens.filter((t) => t.status === "unused");
    // the programme's name only when it tells them apart (a long option is cut off on phones)
    const several = new Set(unused.map((t) => t.chain_program_id)).size > 1;
    select.replaceChildren();
    if (!unused.length) select.append(new Option("貸し出せる受講権がありません", ""));
    for (const t of unused) {
      const name = "受講権 No." + t.token_id + (several ? "（" + titleOf(t.chain_program_id) + "）" : "");
      const option = new Option(name, String(t.token_id));
      option.dataset.programId = (programOfToken(t) || {}).id || "";
      select.append(option);
    }
    if (unused.some((t) => String(t.token_id) === before)) select.value = before;

    const payouts = $("sp-payouts");
    payouts.replaceChildren(
      ...mine.payouts.map((p) =>
        item(jpyc(p.amount_base_units), [
          "ブロック " + p.block_number,
          explorerLink(payoutUrl(p.tx_hash)),
        ]),
      ),
    );
    $("sp-payouts-empty").hidden = mine.payouts.length > 0;
  }

  function payoutUrl(hash) {
    return explorerBase && hash ? explorerBase.replace(/\/+$/, "") + "/tx/" + hash : null;
  }

  function renderPrices() {
    for (const id of buyable) {
      const hint = document.querySelector('[data-price-for="' + CSS.escape(id) + '"]');
      const state = rights[id];
      if (!hint || !state) continue;
      if (state.error) hint.textContent = state.error.status === 404 ? "まだ販売していません。" : "価格を確かめられませんでした。";
      else if (state.available <= 0) hint.textContent = "1つ " + jpyc(state.price_base_units) + "／売り切れました。";
      else hint.textContent = "1つ " + jpyc(state.price_base_units) + "／残り " + state.available + "つ";
    }
    renderTotal();
  }

  function chosenProgram() {
    const radio = buyForm && buyForm.querySelector('input[name="program_id"]:checked');
    return radio ? radio.value : "";
  }

  function renderTotal() {
    if (!buyForm) return;
    const state = rights[chosenProgram()];
    const quantity = BigInt($("sp-quantity").value || "1");
    $("sp-buy-total").textContent =
      state && !state.error ? jpyc(BigInt(state.price_base_units) * quantity) : "—";
  }

  function renderTalents() {
    const box = $("sp-talents");
    const checked = box.querySelector('input[name="talent_id"]:checked');
    const before = checked ? checked.value : "";
    const option = $("sp-lend-token").selectedOptions[0];
    const programId = option ? option.dataset.programId : "";
    const shown = talents.filter((t) => !programId || t.program_id === programId);
    box.replaceChildren(
      ...shown.map((t, i) => {
        const div = document.createElement("div");
        div.className = "sp-choice";
        const input = document.createElement("input");
        input.type = "radio";
        input.name = "talent_id";
        input.id = "sp-talent-" + i;
        input.value = t.talent_id;
        input.checked = t.talent_id === before;
        input.setAttribute("aria-describedby", "sp-talent-" + i + "-hint sp-talent-" + i + "-cohort");
        input.dataset.nickname = t.nickname;
        const label = document.createElement("label");
        label.htmlFor = input.id;
        label.textContent = t.nickname + "さん";
        const hint = document.createElement("p");
        hint.className = "sp-hint";
        hint.id = "sp-talent-" + i + "-hint";
        hint.textContent = t.introduction || "（自己紹介はありません）";
        const cohort = document.createElement("p");
        cohort.className = "sp-hint sp-cohort";
        cohort.id = "sp-talent-" + i + "-cohort";
        cohort.textContent = "受講する講座：" + t.cohort;
        div.append(input, label, hint, cohort);
        return div;
      }),
    );
    $("sp-talents-empty").hidden = shown.length > 0;
  }

  // Buying and lending --------------------------------------------------------------

  // The last signed request of each kind, kept until it gets a definite answer so
  // that a retry sends the very same body with the very same Idempotency-Key.
  const pending = { buy: null, lend: null };
  const busy = { buy: false, lend: false };

  function fieldError(id, control, message) {
    const error = $(id);
    error.textContent = message;
    error.hidden = !message;
    if (control) {
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  }

  /**
   * quote -> sign -> POST with an Idempotency-Key -> follow the transaction.
   * `intent` identifies the request (same intent + still valid = resend as is).
   */
  async function act(kind, status, intent, steps) {
    if (busy[kind]) return;
    busy[kind] = true;
    const form = status.closest("form");
    form.setAttribute("aria-busy", "true");
    try {
      let request = pending[kind];
      const fresh = !request || request.intent !== intent || request.validUntil < Date.now() / 1000 + 60;
      if (fresh) {
        say(status, TEXT.checking);
        const quote = await api("POST", steps.quotePath, { body: steps.quoteBody, auth: true });
        if (quote.status !== 200 || !quote.data) throw new Stop("failed", apiMessage(quote.status, quote.data));
        await readyWallet();
        say(status, TEXT.signing + (steps.signingNote ? steps.signingNote(quote.data) : ""));
        const signature = await walletCall("eth_signTypedData_v4", [session.address, JSON.stringify(quote.data.typed_data)]);
        request = {
          intent: intent,
          key: newKey(),
          body: steps.body(quote.data, signature),
          validUntil: quote.data.deadline,
          label: steps.label,
        };
        pending[kind] = request;
      }
      say(status, "送信しています…");
      const sent = await api("POST", steps.path, { body: request.body, auth: true, key: request.key });
      if (sent.status !== 202 || !sent.data) {
        if (!retryable(sent.status, sent.data)) pending[kind] = null;
        const again = pending[kind] ? "もう一度押すと、同じ内容で送り直します（二重になることはありません）。" : "";
        throw new Stop("failed", apiMessage(sent.status, sent.data) + again);
      }
      pending[kind] = null;
      say(status, TEXT.sent);
      const tx = remember({ tx_id: sent.data.tx_id, label: request.label, status: sent.data.status || "queued" });
      const result = await follow(tx);
      await refresh(); // so that "完了しました" comes with the dashboard showing it
      if (result.status === "confirmed") say(status, TEXT.done + steps.doneNote, "done");
      else say(status, TEXT.failed + "ブロックチェーンに記録できませんでした" + (result.error ? "（" + result.error + "）" : "") + "。" + steps.failedNote, "failed");
    } catch (err) {
      say(status, stopMessage(err), stopKind(err));
    } finally {
      busy[kind] = false;
      form.removeAttribute("aria-busy");
    }
  }

  if (buyForm) {
    buyForm.addEventListener("change", renderTotal);
    buyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!session || busy.buy) return;
      const programId = chosenProgram();
      const firstRadio = buyForm.querySelector('input[name="program_id"]');
      fieldError("sp-buy-program-error", null, programId ? "" : "講座を選んでください");
      if (!programId) {
        firstRadio.focus();
        return;
      }
      const quantity = Number($("sp-quantity").value || "1");
      const title = (programs.find((p) => p.id === programId) || {}).title || programId;
      act("buy", $("sp-buy-status"), programId + "|" + quantity, {
        quotePath: "/purchases/quote",
        quoteBody: { program_id: programId, quantity: quantity },
        signingNote: (q) => "お支払いは " + jpyc(q.total_base_units) + " です。",
        path: "/purchases",
        body: (q, signature) => ({ program_id: programId, quantity: quantity, deadline: q.deadline, signature: signature }),
        label: "受講権を買う：" + title + "（" + quantity + "つ）",
        doneNote: "受講権を買いました。「お持ちの受講権」に表示しています。",
        failedNote: "JPYCは支払われていません。",
      });
    });
  }

  const lendForm = $("sp-lend-form");
  $("sp-lend-token").addEventListener("change", renderTalents);
  lendForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!session || busy.lend) return;
    const select = $("sp-lend-token");
    const talent = lendForm.querySelector('input[name="talent_id"]:checked');
    const tokenId = Number(select.value || "0");
    fieldError("sp-lend-token-error", select, tokenId ? "" : "貸し出す受講権を選んでください。受講権がないときは、先に買ってください。");
    fieldError("sp-lend-talent-error", null, talent ? "" : "受講生を選んでください");
    if (!tokenId) {
      select.focus();
      return;
    }
    if (!talent) {
      const first = lendForm.querySelector('input[name="talent_id"]');
      (first || $("sp-talents-hint")).focus();
      return;
    }
    const nickname = talent.dataset.nickname;
    act("lend", $("sp-lend-status"), tokenId + "|" + talent.value, {
      quotePath: "/lendings/quote",
      quoteBody: { token_id: tokenId, talent_id: talent.value },
      signingNote: (q) => "貸し出しの期間は" + jday(q.expires) + "までです。",
      path: "/lendings",
      body: (q, signature) => ({
        token_id: tokenId,
        talent_id: talent.value,
        expires: q.expires,
        deadline: q.deadline,
        signature: signature,
      }),
      label: "貸し出し：受講権 No." + tokenId + " を" + nickname + "さんへ",
      doneNote: nickname + "さんに受講権を貸し出しました。",
      failedNote: "受講権は貸し出されていません。",
    });
  });

  // Transactions ---------------------------------------------------------------------

  const transactions = []; // {tx_id, label, status, tx_hash, explorer_url, error}
  const TX_STATUS = {
    queued: "送信しました（順番を待っています）",
    submitted: "送信しました（記録を待っています）",
    confirmed: "完了しました",
    failed: "失敗しました",
  };

  function saveTransactions() {
    try {
      sessionStorage.setItem(TXS_KEY, JSON.stringify(transactions.slice(-20)));
    } catch (err) {
      /* storage full or blocked: the list just won't survive a reload */
    }
  }

  function remember(tx) {
    transactions.push(tx);
    saveTransactions();
    renderTransactions();
    return tx;
  }

  function renderTransactions() {
    const list = $("sp-txs");
    list.replaceChildren(
      ...transactions
        .slice()
        .reverse()
        .map((tx) =>
          item(tx.label, [
            TX_STATUS[tx.status] || tx.status,
            tx.status === "failed" && tx.error ? "理由：" + tx.error : "",
            explorerLink(tx.explorer_url),
          ]),
        ),
    );
    $("sp-txs-empty").hidden = transactions.length > 0;
  }

  /** Poll GET /transactions/{id} until the transaction is confirmed or failed. */
  async function follow(tx) {
    let delay = 400;
    for (;;) {
      const { status, data } = await api("GET", "/transactions/" + encodeURIComponent(tx.tx_id));
      if (status === 200 && data) {
        if (data.requeued_as) {
          tx.tx_id = data.requeued_as; // the same intent, under a new record
          continue;
        }
        Object.assign(tx, {
          status: data.status,
          tx_hash: data.tx_hash,
          explorer_url: data.explorer_url || payoutUrl(data.tx_hash),
          error: data.error,
        });
        saveTransactions();
        renderTransactions();
        if (data.status === "confirmed" || data.status === "failed") return tx;
      } else if (status === 404) {
        Object.assign(tx, { status: "failed", error: "記録が見つかりません" });
        saveTransactions();
        renderTransactions();
        return tx;
      }
      await sleep(delay);
      delay = Math.min(delay * 1.5, 3000);
    }
  }

  // Start ------------------------------------------------------------------------------

  $("sp-nojs").hidden = true;
  app.hidden = false;
  session = loadSession();
  if (session) {
    try {
      transactions.push(...JSON.parse(sessionStorage.getItem(TXS_KEY) || "[]"));
    } catch (err) {
      /* ignore a damaged list */
    }
    restoring = true; // take the sign-in's wallet back when it announces itself
    requestWallets();
    setTimeout(() => (restoring = false), DISCOVERY_MS);
    showDashboard(false);
    for (const tx of transactions) {
      if (tx.status !== "confirmed" && tx.status !== "failed") follow(tx).then(() => refresh());
    }
  }
})();
