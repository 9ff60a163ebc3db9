/*
 * まなびリレー lottery page (site/lottery.md): shows each programme's published
 * commitment, and once published, the seed and the result by receipt number,
 * from GET {api_base}/programs/{id}/lottery. Plain JS, no dependencies.
 */
(function () {
  "use strict";

  const meta = document.querySelector('meta[name="manabi-api-base"]');
  const api = ((meta && meta.content) || "/api").replace(/\/+$/, "");
  const OUTCOME = { selected: "当選", waitlisted: "補欠", not_selected: "落選" };

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function when(iso) {
    const d = new Date(iso);
    return `${d.getFullYear()}年${d.getMonth() + 1}月${d.getDate()}日 ${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  }

  function facts(box, rows) {
    const dl = el("dl", { class: "lottery-facts" });
    rows.forEach(([term, value, code]) => {
      dl.appendChild(el("dt", {}, term));
      const dd = el("dd");
      dd.appendChild(code ? el("code", { class: "lottery-hash" }, value) : document.createTextNode(value));
      dl.appendChild(dd);
    });
    box.appendChild(dl);
  }

  function results(box, view) {
    const id = view.program_id;
    const label = el("label", { for: `lottery-find-${id}` }, "受付番号で探す（例：ABCDE-12345）");
    const input = el("input", { id: `lottery-find-${id}`, type: "text", autocomplete: "off", inputmode: "text",
                                "aria-describedby": `lottery-found-${id}` });
    const found = el("p", { id: `lottery-found-${id}`, class: "lottery-found", "aria-live": "polite" });
    input.addEventListener("input", () => {
      const wanted = input.value.trim().toUpperCase();
      const hit = view.results.find((r) => r.receipt_number === wanted);
      found.textContent = !wanted ? "" : hit
        ? `${hit.receipt_number}：${hit.waitlist_position ? `補欠 ${hit.waitlist_position} 番目` : OUTCOME[hit.outcome]}`
        : "その受付番号は見つかりません。";
    });
    box.append(label, input, found);

    const table = el("table", { class: "lottery-results" });
    table.appendChild(el("caption", {}, `抽選結果（${view.results.length}件、定員 ${view.capacity}人）`));
    const head = el("tr");
    ["順位", "受付番号", "区分", "結果"].forEach((h) => head.appendChild(el("th", { scope: "col" }, h)));
    table.appendChild(el("thead")).appendChild(head);
    const body = table.appendChild(el("tbody"));
    view.results.forEach((r) => {
      const row = el("tr");
      row.append(el("td", {}, String(r.rank)), el("td", {}, r.receipt_number), el("td", {}, String(r.tier)),
        el("td", {}, OUTCOME[r.outcome] + (r.waitlist_position ? ` ${r.waitlist_position}` : "")));
      body.appendChild(row);
    });
    const wrap = el("div", { class: "md-typeset__scrollwrap" });
    wrap.appendChild(table);
    box.appendChild(wrap);
    const link = el("a", { href: `${api}/programs/${encodeURIComponent(id)}/lottery` }, "公開データ（JSON）");
    box.appendChild(el("p")).appendChild(link);
  }

  function render(box, view) {
    box.textContent = "";
    const groups = (view.rules.priority_groups || []).map((g) => `${g.tier}：${g.label}`).join("、");
    if (view.status === "not_committed") {
      box.appendChild(el("p", { class: "lottery-status" }, "抽選の準備はまだ始まっていません。応募が定員を超えたときは、締め切り前にここでシードのハッシュ値を公開します。"));
      return;
    }
    box.appendChild(el("p", { class: "lottery-status" }, {
      committed: "シードのハッシュ値を公開しました。締め切りのあとに抽選します。",
      drawn: "抽選を行いました。結果の公開までお待ちください。",
      published: "抽選の結果を公開しました。",
    }[view.status]));
    const rows = [
      ["シードのハッシュ値（SHA-256）", view.seed_sha256, true],
      ["公開した日時", when(view.committed_at)],
      ["優先の区分（数字が小さいほど先）", `${groups}${groups ? "、" : ""}${view.rules.others_tier}：それ以外の方`],
      ["補欠の人数", `${view.rules.waitlist_size}人まで`],
    ];
    if (view.status === "published") rows.push(["シード", view.seed, true], ["結果を公開した日時", when(view.published_at)]);
    facts(box, rows);
    if (view.status === "published") results(box, view);
  }

  document.querySelectorAll(".lottery[data-program-id]").forEach((box) => {
    const id = box.getAttribute("data-program-id");
    fetch(`${api}/programs/${encodeURIComponent(id)}/lottery`, { headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((view) => render(box, view))
      .catch(() => {
        box.textContent = "";
        box.appendChild(el("p", { class: "lottery-status" }, "抽選の情報を読み込めませんでした。時間をおいて、もう一度お試しください。"));
      });
  });
})();
