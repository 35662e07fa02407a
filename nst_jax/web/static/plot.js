// The loss plot: every term of the history rows over iterations, on a log scale, drawn on
// a <canvas> (no library: the page works offline). Shared by the preview and the studio.
"use strict";

const PLOT_COLORS = { total: "#222222", content: "#1f77b4", style: "#d62728", tv: "#2ca02c", temporal: "#9467bd" };
const NOT_TERMS = new Set(["iteration", "evaluations", "seconds", "scale"]);

// rows: [{iteration, seconds, scale, content, style, tv, total, ...}]; scales: [[w, h, iterations], ...]
function drawPlot(canvas, rows, scales) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  canvas.dataset.points = String(rows.length);
  const offsets = [0]; // the first iteration of each scale, counted over all scales
  for (const s of scales) offsets.push(offsets[offsets.length - 1] + s[2]);
  const total = Math.max(offsets[offsets.length - 1], 1);
  const terms = rows.length ? Object.keys(rows[0]).filter((k) => !NOT_TERMS.has(k)) : [];
  let lo = Infinity, hi = -Infinity;
  for (const r of rows) for (const t of terms) if (r[t] > 0 && isFinite(r[t])) {
    lo = Math.min(lo, Math.log10(r[t])); hi = Math.max(hi, Math.log10(r[t]));
  }
  if (!isFinite(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1) { lo -= 0.5; hi += 0.5; }
  const left = 52, right = 12, top = 10, bottom = 26;
  const x = (it) => left + (width - left - right) * it / total;
  const y = (v) => top + (height - top - bottom) * (hi - Math.log10(v)) / (hi - lo);
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = "#ccc"; g.fillStyle = "#555"; g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let p = Math.ceil(lo); p <= Math.floor(hi); p++) { // a line at each power of ten
    const yy = top + (height - top - bottom) * (hi - p) / (hi - lo);
    g.beginPath(); g.moveTo(left, yy); g.lineTo(width - right, yy); g.stroke();
    g.fillText(`1e${p}`, left - 4, yy);
  }
  g.textAlign = "left"; g.textBaseline = "top";
  g.setLineDash([4, 3]);
  scales.forEach((s, k) => { // each scale starts at a dashed line, named by its size
    const xx = x(offsets[k]);
    g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, height - bottom); g.stroke();
    g.fillText(`${s[0]}×${s[1]}`, xx + 3, height - bottom + 4);
  });
  g.setLineDash([]);
  terms.forEach((t, i) => {
    g.strokeStyle = PLOT_COLORS[t] || `hsl(${(i * 67) % 360} 60% 45%)`;
    g.lineWidth = t === "total" ? 2 : 1.3;
    g.beginPath();
    let started = false;
    for (const r of rows) {
      if (!(r[t] > 0 && isFinite(r[t]))) { started = false; continue; }
      const xx = x(offsets[r.scale] + r.iteration), yy = y(r[t]);
      if (started) g.lineTo(xx, yy); else g.moveTo(xx, yy);
      started = true;
    }
    g.stroke();
    g.fillStyle = g.strokeStyle; g.textAlign = "right";
    g.fillText(t, width - right - 4, top + 2 + 13 * i);
  });
}
