// The report's table (sort, filter), photo groups and photo viewer. Plain JavaScript on one JSON block,
// no library: the page must work offline, from an email attachment.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const rows = data.rows, photos = data.photos;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const TARGET = "#ff7800", OTHER = "#286ee6";
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
  const pct = (v) => (v === 0 ? "0" : v >= 1 ? v.toFixed(1) : v.toPrecision(2)) + " %";
  const score = (v) => (v === null ? "" : v.toFixed(2));
  const base = (u) => u.slice(u.lastIndexOf("/") + 1) || u;
  const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const num = (text, empty) => { const v = parseFloat(text); return isNaN(v) ? empty : v; };
  const products = data.products;  // empty for a scan of one product: it reads as targets
  rows.forEach((r) => {
    r.n = base(r.u);  // the image column shows, and sorts by, the file's name
    (r.q || []).forEach((n, i) => { r["q" + i] = n; });  // each product's bottles, a sortable column
  });
  const colourOf = (d) => (!d[4] ? OTHER : products.length && d[10] >= 0 ? data.colours[d[10]] : TARGET);
  const scoreOf = (d) => (products.length ? d[11] : d[6]);  // a product's own score; the target score before
  const kindOf = (d) => (!d[4] ? "other bottle" : products.length && d[10] >= 0 ? products[d[10]] : "target");
  // "2 bottles, 1 target" or, by product, "2 bottles: 1 micellar_rose"
  const counts = (r) => count(r.b, "bottle") + (!products.length ? `, ${count(r.t, "target")}` :
    r.t ? ": " + products.map((p, i) => [p, r.q[i]]).filter(([, n]) => n).map(([p, n]) => `${n} ${esc(p)}`).join(", ") : "");

  // ---- the table
  const tbody = document.querySelector("#images tbody");
  const filters = ["f-folder", "f-tmin", "f-tmax", "f-smin", "f-smax", "f-product", "f-changed"].map($).filter(Boolean);
  let sortKey = null, sortDir = 1, shown = [];

  for (const name of [...new Set(rows.map((r) => r.f))].sort()) {
    const o = document.createElement("option");
    o.value = o.textContent = name;
    $("f-folder").appendChild(o);
  }

  function keep(r) {
    if ($("f-folder").value && r.f !== $("f-folder").value) return false;
    if (r.t < num($("f-tmin").value, -Infinity) || r.t > num($("f-tmax").value, Infinity)) return false;
    const lo = num($("f-smin").value, null), hi = num($("f-smax").value, null);
    if ((lo !== null || hi !== null) && (r.x === null || (lo !== null && r.x < lo) || (hi !== null && r.x > hi))) return false;
    if ($("f-product") && $("f-product").value !== "" && !r.q[+$("f-product").value]) return false;
    return !($("f-changed") && $("f-changed").checked && !r.g);
  }

  function order(a, b) {  // empty cells last, whichever the direction
    const x = a[sortKey], y = b[sortKey];
    if (x === y) return 0;
    if (x === null || x === "") return 1;
    if (y === null || y === "") return -1;
    return (x < y ? -1 : 1) * sortDir;
  }

  function cells(r) {
    const photo = r.p >= 0 ? (photos[r.p] ? `<img alt="" data-p="${r.p}">` : '<span class="muted">not readable</span>')
      : '<span class="muted">not embedded</span>';
    const out = [`<td class="ph">${photo}</td>`,
      `<td class="name"><a href="${esc(r.l)}" target="_blank" rel="noopener" title="${esc(r.u)}">${esc(r.n)}</a></td>`,
      `<td>${esc(r.f)}</td>`, `<td>${esc(r.c)}</td>`, `<td class="n">${r.b}</td>`, `<td class="n">${r.t}</td>`,
      ...products.map((_, i) => `<td class="n">${r.q[i]}</td>`), `<td class="n">${r.t ? pct(r.a) : ""}</td>`, `<td class="n">${score(r.m)}</td>`, `<td class="n">${score(r.x)}</td>`,
      `<td>${esc(r.s)}</td>`];
    if (data.compare) out.push(`<td>${esc(r.g)}</td>`);
    return out.join("");
  }

  function render() {
    shown = rows.filter(keep);
    if (sortKey) shown.sort(order);
    tbody.innerHTML = shown.map((r, i) => `<tr data-i="${i}" tabindex="0">${cells(r)}</tr>`).join("");
    tbody.querySelectorAll("img[data-p]").forEach((img) => { img.src = photos[img.dataset.p]; });
    $("count").textContent = `${shown.length.toLocaleString()} of ${rows.length.toLocaleString()} rows shown` +
      (rows.length < data.images ? ` (the scan has ${data.images.toLocaleString()} images: all are in the CSV)` : "");
  }

  document.querySelectorAll("#images th[data-key]").forEach((th) => th.addEventListener("click", () => {
    sortDir = sortKey === th.dataset.key ? -sortDir : (th.dataset.type === "n" ? -1 : 1);  // numbers: largest first
    sortKey = th.dataset.key;
    document.querySelectorAll("#images th").forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
    render();
  }));
  filters.forEach((el) => el.addEventListener("input", render));
  tbody.addEventListener("click", (e) => {
    if (e.target.closest("a")) return;  // the link opens the photo itself
    const tr = e.target.closest("tr");
    if (tr) open(shown, +tr.dataset.i);
  });
  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr");
    if (tr && e.key === "Enter") open(shown, +tr.dataset.i);
  });
  document.querySelectorAll("a[data-folder]").forEach((a) => a.addEventListener("click", () => {
    $("f-folder").value = a.dataset.folder;
    render();
  }));

  // ---- a photo with its boxes and outlines drawn over it
  function overlay(svg, r) {
    svg.setAttribute("viewBox", `0 0 ${r.w} ${r.h}`);
    svg.replaceChildren();
    const font = Math.max(r.w, r.h) / 70;
    const add = (tag, attrs, text) => {
      const el = document.createElementNS(SVG, tag);
      for (const k in attrs) el.setAttribute(k, attrs[k]);
      if (text !== undefined) el.textContent = text;
      svg.appendChild(el);
    };
    const dets = r.d.map((d, i) => [d, i]).sort((a, b) => a[0][4] - b[0][4]);  // targets on top
    for (const [d, i] of dets) {
      const colour = colourOf(d);
      if (d[9].length >= 6) add("polygon", {points: d[9].join(" "), fill: colour, "fill-opacity": 0.35, stroke: colour, "stroke-width": 1, "vector-effect": "non-scaling-stroke"});
      add("rect", {x: d[0], y: d[1], width: d[2] - d[0], height: d[3] - d[1], fill: "none", stroke: colour, "stroke-width": 2, "vector-effect": "non-scaling-stroke"});
      // the number in the list below, the product where there are several, and the score
      const label = `${i + 1}: ${products.length && d[4] ? kindOf(d) + " " : ""}${scoreOf(d).toFixed(2)}`;
      add("rect", {x: d[0], y: Math.max(0, d[1] - font * 1.2), width: font * (0.62 * label.length + 0.3), height: font * 1.2, fill: colour});
      add("text", {x: d[0] + font * 0.15, y: Math.max(font, d[1] - font * 0.25), "font-size": font, fill: "#fff", "font-family": "sans-serif"}, label);
    }
  }

  function stage(el, r) {
    el.style.aspectRatio = `${r.w} / ${r.h}`;
    overlay(el.querySelector("svg"), r);
  }

  // ---- the viewer
  const dialog = $("photo");
  let list = [], at = 0;

  function show() {
    const r = list[at];
    $("dlg-title").textContent = r.u;
    $("dlg-sub").innerHTML = counts(r) + (r.t ? `, ${products.length ? "their" : "target"} area ${pct(r.a)} of the photo` : "") +
      (r.c ? ` · taken ${esc(r.c)}` : "") + ` · folder ${esc(r.f)}` + (r.g ? ` · ${esc(r.g)}` : "") +
      ` · <a href="${esc(r.l)}" target="_blank" rel="noopener">open the photo</a> · ${at + 1} of ${list.length}`;
    const box = $("dlg-stage"), img = $("dlg-img");
    box.style.width = `min(100%, ${(66 * r.w / r.h).toFixed(1)}vh)`;
    stage(box, r);
    $("dlg-note").textContent = "";
    img.onerror = () => {
      img.style.visibility = "hidden";
      $("dlg-note").textContent = r.p >= 0 && data.why[r.p] ? `The photo is not readable any more: ${data.why[r.p]}` :
        "This photo is not embedded in the report (only a few are, to keep the file small) and this browser " +
        "cannot open it from its link; the boxes are drawn on grey. Open the link, or find the image in the CSV.";
    };
    img.onload = () => { img.style.visibility = "visible"; };
    img.style.visibility = "hidden";
    img.src = r.p >= 0 && photos[r.p] ? photos[r.p] : (r.p >= 0 ? "data:," : r.l);
    const head = `<tr><th>#</th><th>bottle</th><th>score</th><th>detector score</th><th>${products.length ? "area" : "target area"}</th></tr>`;
    $("dlg-dets").innerHTML = head + r.d.map((d, i) => `<tr><td>${i + 1}</td><td>${esc(kindOf(d))}</td>` +
      `<td>${scoreOf(d).toFixed(2)}</td><td>${d[5].toFixed(2)}</td><td>${d[7] ? `${esc(d[7])} of the photo, from the ${esc(d[8])}` : ""}</td></tr>`).join("");
  }

  function open(from, i) {
    list = from; at = i;
    show();
    if (!dialog.open) dialog.showModal();
  }

  $("dlg-close").addEventListener("click", () => dialog.close());
  $("dlg-prev").addEventListener("click", () => { at = (at - 1 + list.length) % list.length; show(); });
  $("dlg-next").addEventListener("click", () => { at = (at + 1) % list.length; show(); });
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft") $("dlg-prev").click();
    if (e.key === "ArrowRight") $("dlg-next").click();
  });
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });  // a click beside it

  // ---- photo groups: the embedded photos, by why they are worth a look
  if (data.groups.length) {
    $("groups").replaceChildren();
    for (const g of data.groups) {
      const h = document.createElement("h3");
      h.textContent = g.title;
      const strip = document.createElement("div");
      strip.className = "gallery";
      const members = g.rows.map((i) => rows[i]);
      members.forEach((r, k) => {
        const fig = document.createElement("figure");
        fig.tabIndex = 0;
        const readable = photos[r.p];
        fig.innerHTML = `<div class="stage">${readable ? `<img alt="" src="">` : ""}<svg xmlns="${SVG}" preserveAspectRatio="none"></svg></div>` +
          `<figcaption>${esc(r.u)}<br>${counts(r)}` + (r.t ? `, ${products.length ? "their" : "target"} area ${pct(r.a)}` : "") +
          (readable ? "" : `<br>image not readable: ${esc(data.why[r.p] || "")}`) + "</figcaption>";
        if (readable) fig.querySelector("img").src = readable;
        stage(fig.querySelector(".stage"), r);
        fig.addEventListener("click", () => open(members, k));
        strip.appendChild(fig);
      });
      $("groups").append(h, strip);
    }
  }
  render();
})();
