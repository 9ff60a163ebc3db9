/*
 * まなびリレー application form (site/apply.md). Plain JS, no dependencies.
 *
 * - Checks the answers with the same rules and messages as the API; the API decides.
 * - Errors: a summary at the top (focused) linking to each field, and the same
 *   message next to the field, which gets aria-invalid="true".
 * - POST {api_base}/applications with an Idempotency-Key. The key is kept while
 *   the answers stay the same, so a retry after a lost answer never creates a
 *   second application; changed answers get a new key.
 * - The API base comes from <meta name="manabi-api-base"> (mkdocs.yml extra.api_base).
 */
(function () {
  "use strict";

  const form = document.getElementById("apply-form");
  if (!form || !window.fetch || !window.crypto) return; // the no-JS notice stays visible

  const $ = (id) => document.getElementById(id);
  const summary = $("apply-summary");
  const summaryTitle = $("apply-summary-title");
  const summaryList = $("apply-summary-list");
  const summaryRetry = $("apply-summary-retry");
  const summaryHelp = $("apply-summary-help");
  const progress = $("apply-progress");
  const motivation = $("motivation");
  const counter = $("motivation-count");
  const counterLive = $("motivation-count-live");
  const done = $("apply-done");
  const meta = document.querySelector('meta[name="manabi-api-base"]');
  const endpoint = ((meta && meta.content) || "/api").replace(/\/+$/, "") + "/applications";
  const pageTitle = document.title;

  const MOTIVATION_MAX = 800;
  const MSG = {
    program_id: "講座を選んでください",
    name: "氏名を入力してください",
    name_long: "氏名は50文字以内で入力してください",
    name_kana: "ふりがなを入力してください",
    name_kana_bad: "ふりがなは、ひらがなかカタカナで入力してください",
    name_kana_long: "ふりがなは50文字以内で入力してください",
    email: "メールアドレスを入力してください",
    email_bad: "メールアドレスの形式が正しくありません",
    email_confirm: "確認用のメールアドレスが一致しません",
    phone: "電話番号を入力してください",
    phone_bad: "電話番号は0から始まる10桁か11桁の数字で入力してください",
    postal_code: "郵便番号を入力してください",
    postal_code_bad: "郵便番号は7桁の数字で入力してください",
    address: "住所を入力してください",
    address_long: "住所は200文字以内で入力してください",
    lives_or_works_in_city: "市内にお住まいか、お勤めかを選んでください",
    child_age: (n) => n + "人目のお子さんの年齢を選んでください",
    work_styles: "希望する働き方を1つ以上選んでください",
    pc_environment: "パソコンの環境を選んでください",
    motivation: "志望動機を入力してください",
    motivation_long: "志望動機は800文字以内で入力してください",
    consent_privacy: "個人情報の取り扱いへの同意が必要です",
  };
  const HEADING_INPUT = "入力内容を確認してください";
  const HEADING_FAILED = "送信できませんでした";
  const HEADING_REFUSED = "応募を受け付けられませんでした";

  // Normalising and checking: the same steps as chalicelib/applications/form.py --

  const length = (s) => [...s].length; // Unicode code points, as the API counts
  const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g;
  /** CRLF -> LF, Unicode normal form, no control characters, trimmed. */
  const clean = (s, nf) => s.replace(/\r\n/g, "\n").normalize(nf || "NFC").replace(CONTROL, "").trim();
  // spaces, hyphens, dashes, minus, long vowel marks and brackets people type in numbers (after NFKC)
  const DASHES = /[\s\-\u2010-\u2015\u2212\uff70\u30fc()]/g;
  const KANA = /^[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe\u30fb ]+$/;
  const EMAIL =
    /^[^@\s"<>(),;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

  const value = (id, nf) => clean($(id).value, nf);
  const checked = (name) =>
    [...form.querySelectorAll('input[name="' + name + '"]:checked')].map((i) => i.value);
  const isShown = (el) => !el.closest("[hidden]");

  function childcareGroup(programId) {
    return [...form.querySelectorAll('[data-field="childcare_requests"]')].find(
      (el) => el.dataset.program === programId
    );
  }

  /** The answers, normalised the way the API normalises them. */
  function read() {
    const programId = checked("program_id")[0] || "";
    const count = Number($("children-count").value || 0);
    const ages = [];
    for (let i = 1; i <= count; i++) ages.push($("child-age-" + i).value);
    const group = childcareGroup(programId);
    const childcare = group
      ? [...group.querySelectorAll("select[data-session]")]
          .filter((s) => s.value)
          .map((s) => ({ session_id: s.dataset.session, children: Number(s.value) }))
      : [];
    const livesOrWorks = checked("lives_or_works_in_city")[0];
    return {
      program_id: programId,
      name: value("name"),
      name_kana: value("name-kana", "NFKC").split(/\s+/).join(" "),
      email: value("email", "NFKC"),
      email_confirm: value("email-confirm", "NFKC"),
      phone: value("phone", "NFKC").replace(DASHES, ""),
      postal_code: value("postal-code", "NFKC").replace(/^〒/, "").replace(DASHES, ""),
      address: value("address"),
      lives_or_works_in_city: livesOrWorks === undefined ? null : livesOrWorks === "true",
      ages: ages,
      childcare_requests: childcare,
      work_styles: checked("work_styles"),
      pc_environment: checked("pc_environment")[0] || "",
      motivation: value("motivation"),
      consent_privacy: $("consent-privacy").checked,
      website: $("website").value,
    };
  }

  /** [{field, message}] in the order of the form; field is a data-field key. */
  function check(a) {
    const errors = [];
    const add = (field, message) => errors.push({ field: field, message: message });
    if (!a.program_id) add("program_id", MSG.program_id);
    if (!a.name) add("name", MSG.name);
    else if (length(a.name) > 50) add("name", MSG.name_long);
    if (!a.name_kana) add("name_kana", MSG.name_kana);
    else if (length(a.name_kana) > 50) add("name_kana", MSG.name_kana_long);
    else if (!KANA.test(a.name_kana)) add("name_kana", MSG.name_kana_bad);
    if (!a.email) add("email", MSG.email);
    else if (length(a.email) > 254 || !EMAIL.test(a.email)) add("email", MSG.email_bad);
    if (a.email && a.email_confirm !== a.email) add("email_confirm", MSG.email_confirm);
    if (!a.phone) add("phone", MSG.phone);
    else if (!/^0\d{9,10}$/.test(a.phone)) add("phone", MSG.phone_bad);
    if (!a.postal_code) add("postal_code", MSG.postal_code);
    else if (!/^\d{7}$/.test(a.postal_code)) add("postal_code", MSG.postal_code_bad);
    if (!a.address) add("address", MSG.address);
    else if (length(a.address) > 200) add("address", MSG.address_long);
    if (a.lives_or_works_in_city === null) add("lives_or_works_in_city", MSG.lives_or_works_in_city);
    a.ages.forEach((age, i) => {
      if (age === "") add("children." + i, MSG.child_age(i + 1));
    });
    if (!a.work_styles.length) add("work_styles", MSG.work_styles);
    if (!a.pc_environment) add("pc_environment", MSG.pc_environment);
    if (!a.motivation) add("motivation", MSG.motivation);
    else if (length(a.motivation) > MOTIVATION_MAX) add("motivation", MSG.motivation_long);
    if (!a.consent_privacy) add("consent_privacy", MSG.consent_privacy);
    return errors;
  }

  /** Exactly the keys the API takes (it rejects unknown ones). */
  function payload(a) {
    return {
      program_id: a.program_id,
      name: a.name,
      name_kana: a.name_kana,
      email: a.email,
      phone: a.phone,
      postal_code: a.postal_code,
      address: a.address,
      lives_or_works_in_city: a.lives_or_works_in_city,
      children: a.ages.map((age) => ({ age: Number(age) })),
      childcare_requests: a.childcare_requests,
      work_styles: a.work_styles,
      pc_environment: a.pc_environment,
      motivation: a.motivation,
      consent_privacy: true,
      website: a.website,
    };
  }

  // Showing errors ----------------------------------------------------------

  const fields = () => [...form.querySelectorAll(".apply-field")];

  function fieldFor(key, sent) {
    // childcare_requests.N... names the N-th request sent: find its session's select
    const m = /^childcare_requests\.(\d+)/.exec(key);
    const request = m && sent && sent.childcare_requests[Number(m[1])];
    if (request) {
      const own = "childcare:" + sent.program_id + ":" + request.session_id;
      const el = fields().find((f) => f.dataset.field === own && isShown(f));
      if (el) return el;
    }
    // otherwise the longest matching prefix: "children.0.age" -> "children.0" -> "children"
    const parts = String(key).split(".");
    while (parts.length) {
      const name = parts.join(".");
      const el = fields().find((f) => f.dataset.field === name && isShown(f));
      if (el) return el;
      parts.pop();
    }
    return null;
  }

  function controlsOf(field) {
    const all = [...field.querySelectorAll("input, select, textarea")].filter(isShown);
    const own = all.filter((c) => c.closest(".apply-field") === field);
    return own.length ? own : all;
  }

  function clearErrors() {
    fields().forEach((f) => {
      f.classList.remove("apply-field--error");
      const message = f.querySelector(".apply-error");
      if (message) {
        message.textContent = "";
        message.hidden = true;
      }
    });
    form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
    summaryList.textContent = "";
    summaryRetry.hidden = true;
    summaryHelp.hidden = true;
    summary.hidden = true;
    document.title = pageTitle;
  }

  /**
   * errors: [{field?, message}]. Field errors are shown inline and linked from the
   * summary; others are listed as text. options: {heading, retry, help}.
   */
  function showErrors(errors, options, sent) {
    clearErrors();
    const marked = new Set();
    errors.forEach((error) => {
      const item = document.createElement("li");
      const field = error.field ? fieldFor(error.field, sent) : null;
      if (field && marked.has(field)) return; // one message per field
      if (field) {
        marked.add(field);
        field.classList.add("apply-field--error");
        const inline = field.querySelector(".apply-error");
        const hidden = document.createElement("span");
        hidden.className = "apply-vh";
        hidden.textContent = "エラー：";
        inline.append(hidden, error.message);
        inline.hidden = false;
        const controls = controlsOf(field);
        controls.forEach((c) => c.setAttribute("aria-invalid", "true"));
        const link = document.createElement("a");
        link.href = "#" + (controls[0] ? controls[0].id : inline.id);
        link.textContent = error.message;
        item.append(link);
      } else {
        item.textContent = error.message;
      }
      summaryList.append(item);
    });
    summaryTitle.textContent = options.heading;
    summaryRetry.hidden = !options.retry;
    summaryHelp.hidden = !options.help;
    summary.hidden = false;
    document.title = "エラー：" + pageTitle;
    summary.focus();
    summary.scrollIntoView({ block: "start" });
  }

  // A summary link moves to the field and shows its label or legend too.
  summaryList.addEventListener("click", (event) => {
    const link = event.target.closest("a");
    const target = link && $(link.hash.slice(1));
    if (!target) return;
    event.preventDefault();
    const field = target.closest(".apply-field");
    (field || target).scrollIntoView({ block: "start" });
    target.focus({ preventScroll: true });
  });

  // Sending -----------------------------------------------------------------

  let sending = false; // prevents a double submit without disabling the button
  let key = null; // Idempotency-Key for the current answers
  let keyBody = null; // the body that key was made for

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function failureMessage(status) {
    if (status === 0) return "通信がうまくいきませんでした。電波の届くところで、もう一度お試しください。";
    if (status === 404) return "送信先が見つかりませんでした。少し時間をおいて、もう一度お試しください。";
    if (status === 413)
      return "入力された内容が大きすぎて、送信できませんでした。志望動機などを短くして、もう一度お試しください。";
    if (status === 415) return "システムの不具合で、送信できませんでした。少し時間をおいて、もう一度お試しください。";
    if (status === 429) return "ただいま応募が集中しています。1分ほど待ってから、もう一度お試しください。";
    if (status >= 500)
      return "システムで問題が起きたため、送信できませんでした。少し時間をおいて、もう一度お試しください。";
    return "送信できませんでした（エラー番号 " + status + "）。少し時間をおいて、もう一度お試しください。";
  }

  // 409 codes whose API message is not for citizens, or when the body is missing
  const REFUSED = {
    duplicate_application: "このメールアドレスでは、すでにこの講座にお申し込みいただいています。",
    application_window_closed: "この講座の募集期間は終了しました。",
    application_window_not_open: "この講座の募集はまだ始まっていません。",
  };
  const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;

  function handle(status, data, sent) {
    const error = (data && data.error) || {};
    if ((status === 201 || status === 200) && data && data.receipt_number) {
      succeed(data, sent);
    } else if (status === 422 && data && Array.isArray(data.errors) && data.errors.length) {
      showErrors(data.errors, { heading: HEADING_INPUT }, sent);
    } else if (status === 409 && error.code === "request_in_progress") {
      // the first send is still being handled: the same key will get its result
      showErrors([{ message: "前の送信を処理しています。少し待ってから、もう一度お試しください。" }],
        { heading: HEADING_FAILED, retry: true, help: true }, sent);
    } else if (status === 409) {
      const message = JAPANESE.test(error.message || "") ? error.message : REFUSED[error.code] || failureMessage(409);
      // A duplicate is about the e-mail address: link the summary to it, like any field error.
      const field = error.code === "duplicate_application" ? "email" : undefined;
      showErrors([{ field: field, message: message }], { heading: HEADING_REFUSED, help: true }, sent);
    } else {
      // e.g. a 422 about the Idempotency-Key itself: the next send gets a new key
      if (status === 422) keyBody = null;
      showErrors([{ message: failureMessage(status) }], { heading: HEADING_FAILED, retry: true, help: true }, sent);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sending) return;
    const answers = read();
    const errors = check(answers);
    if (errors.length) {
      showErrors(errors, { heading: HEADING_INPUT });
      return;
    }
    const sent = payload(answers);
    const body = JSON.stringify(sent);
    if (body !== keyBody) {
      key = newKey();
      keyBody = body;
    }
    sending = true;
    form.setAttribute("aria-busy", "true");
    progress.textContent = "送信しています…";
    let status = 0;
    let data = null;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 30000);
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: body,
        signal: abort.signal,
      });
      status = response.status;
      data = await response.json().catch(() => null);
    } catch (err) {
      // network error or timeout (status stays 0): the key is kept for the retry
    } finally {
      clearTimeout(timer);
      sending = false;
      form.removeAttribute("aria-busy");
      progress.textContent = "";
    }
    handle(status, data, sent);
  });

  function succeed(data, sent) {
    clearErrors();
    const chosen = form.querySelector('input[name="program_id"][value="' + CSS.escape(sent.program_id) + '"]');
    $("apply-receipt-number").textContent = data.receipt_number;
    $("apply-done-results").textContent = chosen ? chosen.dataset.results : "";
    form.hidden = true;
    const intro = $("apply-intro");
    if (intro) intro.hidden = true;
    done.hidden = false;
    document.title = "応募を受け付けました - " + pageTitle;
    done.focus();
    done.scrollIntoView({ block: "start" });
    key = keyBody = null;
  }

  $("apply-copy").addEventListener("click", async () => {
    const receipt = $("apply-receipt-number");
    const status = $("apply-copy-status");
    try {
      await navigator.clipboard.writeText(receipt.textContent);
      status.textContent = "受付番号をコピーしました。";
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(receipt);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = "受付番号を選びました。長押しか右クリックでコピーしてください。";
    }
  });

  // Parts of the form that follow other answers -------------------------------

  function showChildAges() {
    const count = Number($("children-count").value || 0);
    for (let i = 1; i <= 10; i++) {
      $("child-age-" + i).closest(".apply-field").hidden = i > count;
    }
  }

  function showChildcare() {
    const programId = checked("program_id")[0] || "";
    form.querySelectorAll('[data-field="childcare_requests"]').forEach((group) => {
      group.hidden = group.dataset.program !== programId;
    });
  }

  let liveTimer = 0;
  function updateCounter(announce) {
    const left = MOTIVATION_MAX - length(value("motivation"));
    const text = left >= 0 ? "あと" + left + "文字" : -left + "文字多すぎます";
    counter.textContent = text;
    counter.classList.toggle("apply-count--over", left < 0);
    clearTimeout(liveTimer);
    // screen readers hear the count once typing pauses, not on every key
    if (announce) liveTimer = setTimeout(() => (counterLive.textContent = text), 1000);
  }

  $("children-count").addEventListener("change", showChildAges);
  form.querySelectorAll('input[name="program_id"]').forEach((r) => r.addEventListener("change", showChildcare));
  motivation.addEventListener("input", () => updateCounter(true));

  // The browser may have restored answers (back button): show what they imply.
  showChildAges();
  showChildcare();
  updateCounter(false);
  $("apply-nojs").hidden = true;
  form.hidden = false;
})();
