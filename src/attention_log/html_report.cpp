#include "attention_log/html_report.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "attention_log/head_stats.h"
#include "attention_log/heatmap.h"
#include "attention_log/image_attention.h"
#include "io/json.h"

namespace attnlab {
namespace {

constexpr const char* kStyle = R"CSS(
:root { --fg: #1d2330; --muted: #667085; --line: #d9dee7; --accent: #e4572e; --bg: #f6f7fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
h1 { font-size: 18px; margin: 0 0 8px 0; }
h2 { font-size: 14px; margin: 0 0 8px 0; color: var(--muted); font-weight: 600; }
#controls { display: flex; flex-wrap: wrap; gap: 10px 22px; align-items: center; }
#controls label { display: flex; gap: 6px; align-items: center; }
#step { width: 260px; }
#stepLabel { font-variant-numeric: tabular-nums; min-width: 150px; }
select { font: inherit; padding: 1px 4px; }
main { display: flex; flex-wrap: wrap; gap: 20px; padding: 16px 20px; align-items: flex-start; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
#grid { display: grid; gap: 6px; align-items: center; }
#grid .hdr { font-size: 12px; color: var(--muted); text-align: center; }
#grid canvas { display: block; border: 2px solid transparent; border-radius: 3px; cursor: pointer; image-rendering: pixelated; }
#grid canvas:hover { border-color: #9aa4b5; }
#grid canvas.sel { border-color: var(--accent); }
#wrap { position: relative; }
#main { display: block; }
#tip, .tip { position: absolute; pointer-events: none; background: rgba(20, 24, 33, 0.92); color: #fff; padding: 4px 8px; border-radius: 4px; font: 12px/1.35 ui-monospace, monospace; white-space: pre; display: none; }
#legend { display: flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted); margin-top: 8px; }
#alignOut { font: 13px ui-monospace, monospace; color: var(--muted); margin: 8px 0 0 0; }
#imgWrap { position: relative; }
#imgMain { display: block; cursor: crosshair; image-rendering: pixelated; }
#imgControls { display: flex; gap: 14px; align-items: center; margin: 0 0 8px 0; }
#grid canvas.img { image-rendering: pixelated; }
#sentence { font: 13px ui-monospace, monospace; color: var(--muted); max-width: 760px; overflow-wrap: anywhere; margin: 8px 0 0 0; }
)CSS";

constexpr const char* kScript = R"JS(
"use strict";
(function () {
  const body = document.body;
  window.addEventListener("error", function (e) { body.setAttribute("data-error", String(e.message)); });
  const D = JSON.parse(document.getElementById("attn-data").textContent);
  const SCALE = D.scale, STOPS = D.colors, R = D.records, ALPHA = D.alpha;
  const $ = function (id) { return document.getElementById(id); };
  const st = { s: D.initial.step, l: D.initial.layer, h: D.initial.head, n: D.initial.example, avg: D.initial.avg, hover: null,
               q: D.initial.query, roll: D.initial.rollout };

  function color(w) {
    if (!(w >= 0)) return "rgb(128,128,128)";
    const x = Math.min(w, 1) * (STOPS.length - 1);
    const i = Math.min(Math.floor(x), STOPS.length - 2), f = x - i, a = STOPS[i], b = STOPS[i + 1];
    return "rgb(" + Math.round(a[0] + (b[0] - a[0]) * f) + "," + Math.round(a[1] + (b[1] - a[1]) * f) + "," +
      Math.round(a[2] + (b[2] - a[2]) * f) + ")";
  }
  // (L*L) weights of example n, layer index l, head index h (or the mean over heads).
  function weights(rec, l, h, n, avg) {
    const L = rec.lengths[n], out = new Float64Array(L * L);
    const heads = avg ? rec.w[l].map(function (_, k) { return k; }) : [h];
    heads.forEach(function (k) {
      const a = rec.w[l][k][n];
      for (let p = 0; p < L * L; p++) out[p] += a[p] === null ? NaN : a[p] / SCALE;
    });
    if (heads.length > 1) for (let p = 0; p < L * L; p++) out[p] /= heads.length;
    return out;
  }
  function clamp(v, n) { return Math.max(0, Math.min(v, n - 1)); }
  function fill(select, labels, value) {
    select.innerHTML = "";
    labels.forEach(function (text, i) {
      const o = document.createElement("option");
      o.value = String(i); o.textContent = text; select.appendChild(o);
    });
    select.value = String(value);
  }
  function fmt(w) { return isNaN(w) ? "nan" : w.toFixed(3); }
  function headName(rec) { return st.avg ? "mean of heads" : "head " + rec.head_ids[st.h]; }

  function drawSmall(canvas, m, L) {
    const c = Math.max(2, Math.floor(64 / L));
    canvas.width = L * c; canvas.height = L * c;
    const g = canvas.getContext("2d");
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) {
      g.fillStyle = color(m[i * L + j]); g.fillRect(j * c, i * c, c, c);
    }
  }


  // --- images: one query row over the picture ------------------------------------------------
  // Rollout (Abnar & Zuidema 2020) through the logged layers, which start at layer 0: per layer
  // the mean of the logged heads plus the identity, rows renormalised; R = A_L ... A_1.
  function canRoll(rec) { return rec.layer_ids.every(function (id, l) { return id === l; }); }
  function rollout(rec, n) {
    const T = rec.lengths[n];
    let R = null;
    rec.layer_ids.forEach(function (_, l) {
      const A = weights(rec, l, 0, n, true);
      for (let i = 0; i < T; i++) {
        A[i * T + i] += 1;
        let sum = 0;
        for (let j = 0; j < T; j++) sum += A[i * T + j];
        for (let j = 0; j < T; j++) A[i * T + j] /= sum;
      }
      if (!R) { R = A; return; }
      const P = new Float64Array(T * T);
      for (let i = 0; i < T; i++) for (let k = 0; k < T; k++) {
        const a = A[i * T + k];
        if (a !== 0) for (let j = 0; j < T; j++) P[i * T + j] += a * R[k * T + j];
      }
      R = P;
    });
    return R;
  }
  // The query row over the patches (<cls> column left out, renormalised): gh*gw values.
  function patchRow(rec, l, h, n, avg, roll) {
    const T = rec.lengths[n], m = roll ? rollout(rec, n) : weights(rec, l, h, n, avg), q = st.q;
    const out = new Float64Array(T - 1);
    let sum = 0;
    for (let j = 1; j < T; j++) { out[j - 1] = m[q * T + j]; sum += out[j - 1]; }
    for (let j = 0; j < T - 1; j++) out[j] = sum > 0 ? out[j] / sum : NaN;
    return out;
  }
  // The picture scaled by `s` with the row's heat over it (alpha 0.55 as in the PNG and SVG).
  function drawOverlay(canvas, rec, n, row, s, mark) {
    const I = rec.img, gw = I.w / I.p, px = I.px[n];
    canvas.width = I.w * s; canvas.height = I.h * s;
    const g = canvas.getContext("2d"), data = g.createImageData(I.w * s, I.h * s);
    let top = 0;
    row.forEach(function (v) { if (v > top) top = v; });
    const heats = Array.from(row, function (v) { return color(top > 0 ? v / top : NaN).match(/\d+/g).map(Number); });
    for (let y = 0; y < I.h * s; y++) for (let x = 0; x < I.w * s; x++) {
      const iy = Math.floor(y / s), ix = Math.floor(x / s), cell = Math.floor(iy / I.p) * gw + Math.floor(ix / I.p);
      const heat = heats[cell], o = (y * I.w * s + x) * 4;
      for (let c = 0; c < 3; c++) {
        const v = px[(I.c === 3 ? c : 0) * I.h * I.w + iy * I.w + ix];
        data.data[o + c] = Math.round((1 - ALPHA) * v + ALPHA * heat[c]);
      }
      data.data[o + 3] = 255;
    }
    g.putImageData(data, 0, 0);
    if (mark > 0) {
      const r = Math.floor((mark - 1) / gw), c = (mark - 1) % gw;
      g.strokeStyle = "#fff"; g.lineWidth = 2;
      g.strokeRect(c * I.p * s + 1, r * I.p * s + 1, I.p * s - 2, I.p * s - 2);
    }
  }
  let imgView = null;  // geometry of the large overlay, for hover and click
  function drawImage(rec) {
    const section = $("imgSection");
    section.hidden = !rec.img;
    if (!rec.img) return;
    const I = rec.img, s = Math.max(1, Math.floor(320 / Math.max(I.w, I.h)));
    const roll = st.roll && canRoll(rec);
    const row = patchRow(rec, st.l, st.h, st.n, st.avg, roll);
    drawOverlay($("imgMain"), rec, st.n, row, s, st.q);
    imgView = { s: s, row: row, gw: I.w / I.p, p: I.p };
    const T = rec.lengths[st.n], names = ["<cls>"];
    for (let j = 1; j < T; j++) names.push(rec.tokens[st.n][j]);
    fill($("query"), names, st.q);
    $("roll").disabled = !canRoll(rec);
    $("roll").checked = roll;
    $("imgTitle").textContent = "step " + rec.step + " · " + (st.q ? "patch " + names[st.q] : "<cls>") + " over " +
      I.names[st.n] + " · " + (roll ? "rollout over layers " + rec.layer_ids.join(",") : "layer " +
      rec.layer_ids[st.l] + " · " + headName(rec));
  }
  function imgHover(ev) {
    if (!imgView) return;
    const c = Math.floor(ev.offsetX / (imgView.p * imgView.s)), r = Math.floor(ev.offsetY / (imgView.p * imgView.s));
    const k = r * imgView.gw + c, tip = $("imgTip");
    if (c < 0 || r < 0 || c >= imgView.gw || k >= imgView.row.length) { tip.style.display = "none"; return null; }
    tip.textContent = "patch r" + r + "c" + c + "\nweight " + fmt(imgView.row[k]) + "\nclick: make it the query";
    tip.style.display = "block";
    tip.style.left = (ev.offsetX + 14) + "px"; tip.style.top = (ev.offsetY + 14) + "px";
    return k;
  }

  function drawGrid(rec) {
    const grid = $("grid");
    grid.innerHTML = "";
    const H = rec.head_ids.length, L = rec.lengths[st.n];
    grid.style.gridTemplateColumns = "auto repeat(" + (H + 1) + ", auto)";
    grid.appendChild(document.createElement("div"));
    rec.head_ids.forEach(function (id) {
      const d = document.createElement("div"); d.className = "hdr"; d.textContent = "head " + id; grid.appendChild(d);
    });
    const mean = document.createElement("div"); mean.className = "hdr"; mean.textContent = "mean"; grid.appendChild(mean);
    rec.layer_ids.forEach(function (layerId, l) {
      const d = document.createElement("div"); d.className = "hdr"; d.textContent = "layer " + layerId; grid.appendChild(d);
      for (let h = 0; h <= H; h++) {
        const avg = h === H, canvas = document.createElement("canvas");
        if (rec.img) {
          const s = Math.max(1, Math.floor(84 / Math.max(rec.img.w, rec.img.h)));
          drawOverlay(canvas, rec, st.n, patchRow(rec, l, Math.min(h, H - 1), st.n, avg, false), s, st.q);
        } else {
          drawSmall(canvas, weights(rec, l, Math.min(h, H - 1), st.n, avg), L);
        }
        canvas.title = "layer " + layerId + ", " + (avg ? "mean of heads" : "head " + rec.head_ids[h]);
        if (!st.roll && l === st.l && (avg ? st.avg : (!st.avg && h === st.h))) canvas.className = "sel";
        canvas.addEventListener("click", function () {
          st.l = l; st.avg = avg; st.roll = false; if (!avg) st.h = h; render();
        });
        grid.appendChild(canvas);
      }
    });
  }

  // Sizes `canvas` to W x H CSS pixels at the screen's pixel ratio, clears it to white and
  // returns its context (drawing in CSS pixels).
  function blankCanvas(canvas, W, H) {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    canvas.style.width = W + "px"; canvas.style.height = H + "px";
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#fff"; g.fillRect(0, 0, W, H);
    return g;
  }

  let view = null;  // geometry of the large heatmap, for hover
  function drawMain(rec) {
    const canvas = $("main"), L = rec.lengths[st.n], toks = rec.tokens[st.n];
    const m = weights(rec, st.l, st.h, st.n, st.avg);
    const cell = Math.max(10, Math.min(40, Math.floor(560 / L)));
    const g0 = canvas.getContext("2d");
    g0.font = "12px ui-monospace, monospace";
    let lab = 0;
    toks.forEach(function (t) { lab = Math.max(lab, g0.measureText(t).width); });
    const left = Math.ceil(lab) + 12, top = Math.ceil(lab) + 12;
    const g = blankCanvas(canvas, left + L * cell + 8, top + L * cell + 8);
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) {
      g.fillStyle = color(m[i * L + j]); g.fillRect(left + j * cell, top + i * cell, cell, cell);
    }
    g.font = "12px ui-monospace, monospace";
    g.textBaseline = "middle";
    const hv = st.hover;
    for (let i = 0; i < L; i++) {
      g.fillStyle = hv && hv.i === i ? "#e4572e" : "#1d2330";
      g.textAlign = "right"; g.fillText(toks[i], left - 6, top + i * cell + cell / 2);
    }
    for (let j = 0; j < L; j++) {
      g.save();
      g.translate(left + j * cell + cell / 2, top - 6);
      g.rotate(-Math.PI / 2);
      g.fillStyle = hv && hv.j === j ? "#e4572e" : "#1d2330";
      g.textAlign = "left"; g.fillText(toks[j], 0, 0);
      g.restore();
    }
    if (hv) {
      g.strokeStyle = "#e4572e"; g.lineWidth = 2;
      g.strokeRect(left + 1, top + hv.i * cell + 1, L * cell - 2, cell - 2);
      g.strokeRect(left + hv.j * cell + 1, top + 1, cell - 2, L * cell - 2);
    }
    view = { left: left, top: top, cell: cell, L: L, m: m, toks: toks };
    $("title").textContent = "step " + rec.step + " · layer " + rec.layer_ids[st.l] + " · " + headName(rec) +
      " · example " + st.n;
    $("sentence").textContent = rec.img ? rec.img.names[st.n] : toks.join(" ");
  }

  // Translation: output tokens (rows) against source tokens (columns) of the selected example.
  function drawAlign(rec) {
    const section = $("alignSection"), a = rec.align ? rec.align[st.n] : null;
    section.hidden = !a;
    if (!a) return;
    const J = a.out.length, S = a.src.length, canvas = $("align");
    const cell = Math.max(10, Math.min(32, Math.floor(480 / Math.max(S, J, 1))));
    const g0 = canvas.getContext("2d");
    g0.font = "12px ui-monospace, monospace";
    let left = 0, top = 0;
    a.out.forEach(function (t) { left = Math.max(left, g0.measureText(t).width); });
    a.src.forEach(function (t) { top = Math.max(top, g0.measureText(t).width); });
    left = Math.ceil(left) + 12; top = Math.ceil(top) + 12;
    const g = blankCanvas(canvas, left + S * cell + 8, top + Math.max(J, 1) * cell + 8);
    for (let i = 0; i < J; i++) for (let j = 0; j < S; j++) {
      const v = a.w[i * S + j];
      g.fillStyle = color(v === null ? NaN : v / SCALE); g.fillRect(left + j * cell, top + i * cell, cell, cell);
    }
    g.font = "12px ui-monospace, monospace"; g.textBaseline = "middle"; g.fillStyle = "#1d2330";
    for (let i = 0; i < J; i++) { g.textAlign = "right"; g.fillText(a.out[i], left - 6, top + i * cell + cell / 2); }
    for (let j = 0; j < S; j++) {
      g.save(); g.translate(left + j * cell + cell / 2, top - 6); g.rotate(-Math.PI / 2);
      g.textAlign = "left"; g.fillText(a.src[j], 0, 0); g.restore();
    }
    $("alignTitle").textContent = "alignment · step " + rec.step + " · example " + st.n + ": " +
      (J ? J + " output tokens" : "no output yet") + " (rows) from the source (columns)";
    $("alignOut").textContent = a.out.join(" ");
  }

  function render() {
    const rec = R[st.s];
    st.l = clamp(st.l, rec.layer_ids.length); st.h = clamp(st.h, rec.head_ids.length);
    st.n = clamp(st.n, rec.lengths.length); st.hover = null;
    $("step").value = String(st.s);
    $("stepLabel").textContent = "step " + rec.step + " (" + rec.source + ", " + (st.s + 1) + "/" + R.length + ")";
    fill($("layer"), rec.layer_ids.map(function (id) { return String(id); }), st.l);
    fill($("head"), rec.head_ids.map(function (id) { return String(id); }), st.h);
    fill($("example"), rec.tokens.map(function (t, n) {
      const s = rec.img ? rec.img.names[n] : t.join(" "); return n + ": " + (s.length > 40 ? s.slice(0, 39) + "…" : s);
    }), st.n);
    $("head").disabled = st.avg;
    $("avg").checked = st.avg;
    if (rec.img) st.q = clamp(st.q, rec.lengths[st.n]);
    drawGrid(rec);
    drawMain(rec);
    drawAlign(rec);
    drawImage(rec);
    $("tip").style.display = "none";
    $("imgTip").style.display = "none";
  }

  function hover(ev) {
    if (!view) return;
    const x = ev.offsetX - view.left, y = ev.offsetY - view.top;
    const j = Math.floor(x / view.cell), i = Math.floor(y / view.cell), tip = $("tip");
    if (x < 0 || y < 0 || i >= view.L || j >= view.L) {
      tip.style.display = "none";
      if (st.hover) { st.hover = null; drawMain(R[st.s]); }
      return;
    }
    if (!st.hover || st.hover.i !== i || st.hover.j !== j) { st.hover = { i: i, j: j }; drawMain(R[st.s]); }
    tip.textContent = "query " + i + " " + view.toks[i] + "\nkey   " + j + " " + view.toks[j] +
      "\nweight " + fmt(view.m[i * view.L + j]);
    tip.style.display = "block";
    tip.style.left = (ev.offsetX + 14) + "px"; tip.style.top = (ev.offsetY + 14) + "px";
  }

  const bar = $("bar"), bg = bar.getContext("2d");
  for (let x = 0; x < bar.width; x++) { bg.fillStyle = color(x / (bar.width - 1)); bg.fillRect(x, 0, 1, bar.height); }
  $("step").max = String(R.length - 1);
  $("step").addEventListener("input", function () { st.s = Number($("step").value); render(); });
  $("layer").addEventListener("change", function () { st.l = Number($("layer").value); render(); });
  $("head").addEventListener("change", function () { st.h = Number($("head").value); render(); });
  $("example").addEventListener("change", function () { st.n = Number($("example").value); render(); });
  $("avg").addEventListener("change", function () { st.avg = $("avg").checked; render(); });
  $("main").addEventListener("mousemove", hover);
  $("query").addEventListener("change", function () { st.q = Number($("query").value); render(); });
  $("roll").addEventListener("change", function () { st.roll = $("roll").checked; render(); });
  $("imgMain").addEventListener("mousemove", imgHover);
  $("imgMain").addEventListener("mouseleave", function () { $("imgTip").style.display = "none"; });
  $("imgMain").addEventListener("click", function (ev) {
    const k = imgHover(ev);
    if (k !== null) { st.q = k + 1; render(); }
  });
  $("main").addEventListener("mouseleave", function () { $("tip").style.display = "none"; st.hover = null; drawMain(R[st.s]); });
  render();
  if (location.hash === "#selftest") {
    if (R[st.s].img) {
      // The colours of the first view's overlay at each patch's centre, for the test to
      // compare with attnlab's own PNG overlay of the same weights.
      const I = R[st.s].img, s = imgView.s, g = $("imgMain").getContext("2d"), cells = [];
      for (let r = 0; r < I.h / I.p; r++) for (let c = 0; c < I.w / I.p; c++) {
        const d = g.getImageData(Math.floor((c + 0.5) * I.p * s), Math.floor((r + 0.5) * I.p * s), 1, 1).data;
        cells.push([d[0], d[1], d[2]]);
      }
      body.setAttribute("data-overlay", JSON.stringify(cells));
    }
    // Walks every control path once; tests open the page with this hash.
    R.forEach(function (rec, s) {
      $("step").value = String(s); $("step").dispatchEvent(new Event("input"));
      rec.tokens.forEach(function (_, n) {
        st.n = n; st.avg = false;
        rec.layer_ids.forEach(function (_, l) {
          rec.head_ids.forEach(function (_, h) { st.l = l; st.h = h; render(); });
        });
        $("avg").click();
        hover({ offsetX: view.left + view.cell / 2, offsetY: view.top + view.cell * 1.5 });
        if ($("tip").textContent.indexOf("query 1 ") !== 0) throw new Error("hover tip: " + $("tip").textContent);
        hover({ offsetX: 0, offsetY: 0 });
        $("avg").click();
      });
    });
    const tiles = $("grid").querySelectorAll("canvas");
    tiles[tiles.length - 1].click();
    if (!st.avg || st.l !== R[st.s].layer_ids.length - 1) throw new Error("grid click did not select");
    tiles[0].click();
    R.forEach(function (rec, s) {
      if (!rec.align) return;
      $("step").value = String(s); $("step").dispatchEvent(new Event("input"));
      if ($("alignSection").hidden || $("align").width <= 10) throw new Error("alignment not drawn at step " + rec.step);
      body.setAttribute("data-alignment", "ok");
    });
    R.forEach(function (rec, s) {
      if (!rec.img) return;
      $("step").value = String(s); $("step").dispatchEvent(new Event("input"));
      if ($("imgSection").hidden || $("imgMain").width !== rec.img.w * imgView.s) throw new Error("image not drawn at step " + rec.step);
      // A click on the last patch makes it the query; the rollout, where logged layers allow it.
      const edge = imgView.p * imgView.s;
      const k = imgHover({ offsetX: (imgView.gw - 1) * edge + 1, offsetY: 1 });
      if ($("imgTip").textContent.indexOf("patch r0c" + (imgView.gw - 1)) !== 0) throw new Error("image tip: " + $("imgTip").textContent);
      st.q = k + 1; render();
      if ($("query").value !== String(imgView.gw)) throw new Error("query select: " + $("query").value);
      if (canRoll(rec)) { $("roll").click(); if (!st.roll) throw new Error("rollout not selected"); $("roll").click(); }
      st.q = 0; render();
      body.setAttribute("data-image", "ok");
    });
    $("layer").value = "0"; $("layer").dispatchEvent(new Event("change"));
    $("example").value = "0"; $("example").dispatchEvent(new Event("change"));
    body.setAttribute("data-selftest", "ok");
  }
  body.setAttribute("data-rendered", "ok");
})();
)JS";

std::string int_array(const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
  return s + "]";
}

// {"step":..,"source":..,"tokens":[[..]],"lengths":[..],"layer_ids":[..],"head_ids":[..],
//  "w":[layer][head][example] = flat (L*L) integers weight*scale, row-major, null for NaN}
std::string record_json(const AttentionRecord& r, double scale) {
  std::string s = "{\"step\":" + std::to_string(r.step) + ",\"source\":" + json_string(r.source) +
                  ",\"tokens\":[";
  for (size_t n = 0; n < r.tokens.size(); ++n) {
    s += n ? ",[" : "[";
    for (size_t t = 0; t < r.tokens[n].size(); ++t)
      s += (t ? "," : "") + json_string(printable_token(r.tokens[n][t]));
    s += "]";
  }
  s += "],\"lengths\":" + int_array(r.lengths) + ",\"layer_ids\":" + int_array(r.layer_ids) +
       ",\"head_ids\":" + int_array(r.head_ids) + ",\"w\":[";
  for (int64_t l = 0; l < r.num_layers(); ++l) {
    const auto w = r.layers[static_cast<size_t>(l)].to(at::kDouble).contiguous();  // (N, H', T, T)
    const auto acc = w.accessor<double, 4>();
    s += l ? ",[" : "[";
    for (int64_t h = 0; h < r.num_heads(); ++h) {
      s += h ? ",[" : "[";
      for (int64_t n = 0; n < r.num_examples(); ++n) {
        s += n ? ",[" : "[";
        const auto L = r.lengths[static_cast<size_t>(n)];
        for (int64_t i = 0; i < L; ++i)
          for (int64_t j = 0; j < L; ++j) {
            if (i || j) s += ',';
            const double v = acc[n][h][i][j];
            s += std::isnan(v) ? "null" : std::to_string(std::lround(v * scale));
          }
        s += "]";
      }
      s += "]";
    }
    s += "]";
  }
  s += "]";
  if (!r.alignments.empty()) {
    // "align": per example {"src":[S], "out":[J], "pos":[J], "w": flat (J*S) weight*scale}
    s += ",\"align\":[";
    for (size_t n = 0; n < r.alignments.size(); ++n) {
      const auto& a = r.alignments[n];
      auto strings = [](const std::vector<std::string>& items) {
        std::string out = "[";
        for (size_t i = 0; i < items.size(); ++i)
          out += (i ? "," : "") + json_string(printable_token(items[i]));
        return out + "]";
      };
      s += (n ? ",{" : "{") + std::string("\"src\":") + strings(a.source) +
           ",\"out\":" + strings(a.outputs) + ",\"pos\":" + int_array(a.positions) + ",\"w\":[";
      const auto w = a.weights.to(at::kDouble).contiguous();  // (J, S)
      const auto* p = w.data_ptr<double>();
      for (int64_t i = 0; i < w.numel(); ++i)
        s += (i ? "," : "") +
             (std::isnan(p[i]) ? std::string("null") : std::to_string(std::lround(p[i] * scale)));
      s += "]}";
    }
    s += "]";
  }
  if (!r.images.empty()) {
    // "img": {"c","h","w","p", "names": [N], "px": per example the flat (C*H*W) pixels}
    const auto& p = r.images.pixels;  // (N, C, H, W) uint8
    s += ",\"img\":{\"c\":" + std::to_string(p.size(1)) + ",\"h\":" + std::to_string(p.size(2)) +
         ",\"w\":" + std::to_string(p.size(3)) + ",\"p\":" + std::to_string(r.images.patch_size) +
         ",\"names\":[";
    for (size_t n = 0; n < r.images.names.size(); ++n)
      s += (n ? "," : "") + json_string(r.images.names[n]);
    s += "],\"px\":[";
    const auto pixels = p.contiguous();
    const auto* bytes = pixels.data_ptr<uint8_t>();
    const int64_t per_image = p.size(1) * p.size(2) * p.size(3);
    for (int64_t n = 0; n < p.size(0); ++n) {
      s += n ? ",[" : "[";
      for (int64_t i = 0; i < per_image; ++i)
        s += (i ? "," : "") + std::to_string(bytes[n * per_image + i]);
      s += "]";
    }
    s += "]}";
  }
  return s + "}";
}

}  // namespace

std::string render_html(const std::vector<AttentionRecord>& records, const HtmlOptions& options) {
  TORCH_CHECK(!records.empty(), "render_html: no records");
  TORCH_CHECK(options.decimals >= 1 && options.decimals <= 6, "render_html: decimals ",
              options.decimals, " outside [1, 6]");
  std::vector<size_t> kept;
  if (options.max_steps > 0)
    kept = spread_indices(records.size(), options.max_steps);
  else
    for (size_t i = 0; i < records.size(); ++i) kept.push_back(i);
  for (auto i : kept)
    validate_record(records[i], "render_html: record of step " + std::to_string(records[i].step));

  const double scale = std::pow(10.0, options.decimals);
  const auto count = static_cast<int64_t>(kept.size());
  const int64_t initial_step =
      options.initial_step < 0 ? count - 1 : std::min(options.initial_step, count - 1);
  std::string data = "{\"scale\":" + std::to_string(std::lround(scale)) +
                     ",\"alpha\":" + std::to_string(kOverlayAlpha) + ",\"colors\":[";
  const auto& stops = heat_color_stops();
  for (size_t k = 0; k < stops.size(); ++k)
    data += (k ? ",[" : "[") + std::to_string(stops[k].r) + "," + std::to_string(stops[k].g) + "," +
            std::to_string(stops[k].b) + "]";
  data += "],\"initial\":{\"step\":" + std::to_string(initial_step) +
          ",\"layer\":" + std::to_string(std::max<int64_t>(0, options.initial_layer)) +
          ",\"head\":" + std::to_string(std::max<int64_t>(0, options.initial_head)) +
          ",\"example\":" + std::to_string(std::max<int64_t>(0, options.initial_example)) +
          ",\"avg\":" + (options.average_heads ? "true" : "false") +
          ",\"query\":" + std::to_string(std::max<int64_t>(0, options.initial_query)) +
          ",\"rollout\":" + (options.rollout ? "true" : "false") + "},\"records\":[";
  for (size_t k = 0; k < kept.size(); ++k)
    data += (k ? "," : "") + record_json(records[kept[k]], scale);
  data += "]}";

  const auto title = xml_escape(options.title);
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html +=
      "<title>" + title + "</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  html += "<header><h1>" + title + "</h1><div id=\"controls\">\n";
  html +=
      "<label>step <input type=\"range\" id=\"step\" min=\"0\" max=\"0\" value=\"0\"></label>"
      "<span id=\"stepLabel\"></span>\n";
  html += "<label>layer <select id=\"layer\"></select></label>\n";
  html += "<label>head <select id=\"head\"></select></label>\n";
  html += "<label><input type=\"checkbox\" id=\"avg\"> average heads</label>\n";
  html += "<label>example <select id=\"example\"></select></label>\n";
  html += "</div></header>\n<main>\n";
  html +=
      "<section id=\"imgSection\" hidden><h2 id=\"imgTitle\"></h2><div id=\"imgControls\">"
      "<label>query <select id=\"query\"></select></label>"
      "<label><input type=\"checkbox\" id=\"roll\"> rollout over layers</label></div>"
      "<div id=\"imgWrap\"><canvas id=\"imgMain\" width=\"10\" height=\"10\"></canvas>"
      "<div id=\"imgTip\" class=\"tip\"></div></div></section>\n";
  html +=
      "<section><h2>all layers &times; heads (click to select)</h2><div "
      "id=\"grid\"></div></section>\n";
  html +=
      "<section><h2 id=\"title\"></h2><div id=\"wrap\"><canvas id=\"main\" width=\"10\" "
      "height=\"10\"></canvas>"
      "<div id=\"tip\"></div></div>\n";
  html +=
      "<div id=\"legend\"><span>0</span><canvas id=\"bar\" width=\"200\" "
      "height=\"12\"></canvas><span>1</span>"
      "<span>rows: queries, columns: keys</span></div>\n";
  html += "<p id=\"sentence\"></p></section>\n";
  html +=
      "<section id=\"alignSection\" hidden><h2 id=\"alignTitle\"></h2><canvas id=\"align\" "
      "width=\"10\" "
      "height=\"10\"></canvas><p id=\"alignOut\"></p></section>\n</main>\n";
  html += "<script type=\"application/json\" id=\"attn-data\">" + data + "</script>\n";
  html += "<script>" + std::string(kScript) + "</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace attnlab
