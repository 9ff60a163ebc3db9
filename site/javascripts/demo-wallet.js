/*
 * まなびリレー demo wallet: LOCAL DEMO ONLY. Plain JS, no dependencies.
 *
 * On the local stack (`manabi dev`, 127.0.0.1 port 8000) this announces an
 * EIP-6963 wallet, so a newcomer can try the whole sponsor flow without
 * installing one. It signs with the demo sponsors' keys, which are public:
 * the local stack prints them and holds them in GET/POST /dev/wallet.
 *
 * - Only on 127.0.0.1 / localhost, and only once a page asks for wallets
 *   (eip6963:requestProvider, sent when the visitor presses "ウォレットをつなぐ"):
 *   then it tries GET /dev/wallet once, and announces itself if that answers.
 *   Production serves no /dev/wallet and never runs on those hosts.
 * - EIP-1193 request(): eth_requestAccounts / eth_accounts (the demo accounts),
 *   eth_chainId (from GET {api_base}/chain), wallet_switchEthereumChain (to that
 *   chain only), personal_sign and eth_signTypedData_v4 (POST /dev/wallet).
 *   Anything else fails with 4200 (unsupported method).
 */
(function () {
  "use strict";

  if (!/^(127\.0\.0\.1|localhost|\[::1\])$/.test(location.hostname)) return;
  if (!window.fetch || !window.crypto) return;

  const INFO = Object.freeze({
    uuid: crypto.randomUUID ? crypto.randomUUID() : "6d616e61-6269-4000-8000-64656d6f0001",
    name: "まなびリレー デモウォレット（ローカル専用）",
    // a wallet on a teal square (base64 SVG, as EIP-6963 icons usually are)
    icon:
      "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAzMiAzMiI+PHJlY3Qgd2lkdGg9IjMyIiBoZWlnaHQ9IjMyIiByeD0iNyIgZmlsbD0iIzAwNjk1YyIvPjxyZWN0IHg9IjYiIHk9IjkiIHdpZHRoPSIyMCIgaGVpZ2h0PSIxNSIgcng9IjMiIGZpbGw9Im5vbmUiIHN0cm9rZT0iI2ZmZiIgc3Ryb2tlLXdpZHRoPSIyLjIiLz48cGF0aCBkPSJNOSA5bDEwLTQgMiA0IiBmaWxsPSJub25lIiBzdHJva2U9IiNmZmYiIHN0cm9rZS13aWR0aD0iMi4yIiBzdHJva2UtbGluZWpvaW49InJvdW5kIi8+PGNpcmNsZSBjeD0iMjEiIGN5PSIxNi41IiByPSIxLjgiIGZpbGw9IiNmZmYiLz48L3N2Zz4=",
    rdns: "local.manabi-relay.demo-wallet",
  });
  const meta = document.querySelector('meta[name="manabi-api-base"]');
  const apiBase = ((meta && meta.content) || "/api").replace(/\/+$/, "");

  let accountsPromise = null; // Promise<string[] | null>, fetched once
  let chainPromise = null; // Promise<string>, the configured chain id in hex

  function demoAccounts() {
    if (!accountsPromise) {
      accountsPromise = fetch("/dev/wallet", { headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : null))
        .then((d) => (d && Array.isArray(d.accounts) && d.accounts.length ? d.accounts : null))
        .catch(() => null);
    }
    return accountsPromise;
  }

  function chainId() {
    if (!chainPromise) {
      chainPromise = fetch(apiBase + "/chain")
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error("GET /chain " + r.status))))
        .then((d) => d.chain_id_hex)
        .catch((err) => {
          chainPromise = null; // try again next time
          throw err;
        });
    }
    return chainPromise;
  }

  function rpcError(code, message) {
    return Object.assign(new Error(message), { code: code });
  }

  async function sign(method, address, params) {
    const response = await fetch("/dev/wallet", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ address: address, method: method, params: params }),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok || !data || typeof data.result !== "string") {
      throw rpcError(-32603, "demo wallet: " + ((data && data.error) || "HTTP " + response.status));
    }
    return data.result;
  }

  async function request(args) {
    const method = args && args.method;
    const params = (args && args.params) || [];
    const accounts = await demoAccounts();
    if (!accounts) throw rpcError(4900, "demo wallet: the local stack is not running");
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return accounts.slice();
      case "eth_chainId":
        return chainId();
      case "wallet_switchEthereumChain": {
        const wanted = String((params[0] && params[0].chainId) || "").toLowerCase();
        if (wanted === String(await chainId()).toLowerCase()) return null;
        throw rpcError(4902, "demo wallet: it only knows the local chain");
      }
      case "personal_sign": // [message (hex), address]
        return sign(method, params[1], params);
      case "eth_signTypedData_v4": // [address, typed data (JSON)]
        return sign(method, params[0], params);
      default:
        throw rpcError(4200, "demo wallet: unsupported method " + method);
    }
  }

  const provider = Object.freeze({
    isManabiDemoWallet: true,
    request: request,
    on: function () {},
    removeListener: function () {},
  });

  function announce() {
    window.dispatchEvent(
      new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info: INFO, provider: provider }) }),
    );
  }

  window.addEventListener("eip6963:requestProvider", () => {
    demoAccounts().then((accounts) => {
      if (accounts) announce();
    });
  });
})();
