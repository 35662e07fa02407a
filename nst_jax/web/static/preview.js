// The preview: polls BASE + "state" (a long poll: it answers when the run has news),
// redraws the numbers and the plot, fetches each new image once, and posts "stop". The
// preview page watches its one run (BASE ""); the studio calls watchRun for the run chosen.
"use strict";
const $ = (id) => document.getElementById(id);
let seen = null; // what the page has of the run it watches
let watching = 0; // counts the runs watched: a poll of an earlier one ends

function watchRun(base) {
  seen = { base, version: -1, epoch: -1, rows: [], picture: 0, loading: false, latest: null };
  $("image").hidden = true;
  $("empty").hidden = false;
  $("stop").textContent = "Stop";
  poll(++watching);
}

function duration(s) {
  if (!isFinite(s)) return "–";
  s = Math.round(s);
  const m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

// iterations per second over the last rows of the current scale
function speed(rows, scale) {
  const mine = rows.filter((r) => r.scale === scale).slice(-30);
  if (mine.length < 2) return NaN;
  const a = mine[0], b = mine[mine.length - 1];
  return (b.iteration - a.iteration) / Math.max(b.seconds - a.seconds, 1e-9);
}

// the rest of this scale at its speed, and each later scale slower by its pixels' ratio
function timeLeft(s, rate) {
  const now = s.scales[s.scale];
  if (!(rate > 0) || !now) return NaN;
  let left = Math.max(now[2] - s.iteration, 0) / rate;
  for (const [w, h, n] of s.scales.slice(s.scale + 1)) left += (n / rate) * (w * h) / (now[0] * now[1]);
  return left;
}

function loadPicture(number) {
  seen.loading = true;
  const img = new Image();
  const mine = seen;
  img.onload = () => {
    if (mine !== seen) return; // (another run is watched now)
    const shown = $("image");
    shown.src = img.src;
    shown.dataset.picture = String(number);
    shown.hidden = false;
    $("empty").hidden = true;
    seen.picture = number;
    seen.loading = false;
    if (seen.latest && seen.latest.picture > number) loadPicture(seen.latest.picture);
  };
  img.onerror = () => { seen.loading = false; };
  img.src = `${seen.base}image.jpg?v=${number}`;
}

// a batch's or film's entries: each figure made once, changed only when its entry changes
// (a new thumbnail's URL names its version, so the browser fetches each once)
function renderItems(s) {
  $("items-card").hidden = !s.items.length;
  const box = $("items");
  s.items.forEach((item, i) => {
    let f = box.children[i];
    if (!f) {
      f = document.createElement("figure");
      f.append(document.createElement("img"), document.createElement("figcaption"));
      box.append(f);
    }
    const key = `${item.name}|${item.status}|${item.thumb}`;
    if (f.dataset.key === key) return;
    f.dataset.key = key;
    f.className = item.status;
    const [img, caption] = f.children;
    img.hidden = !item.thumb;
    if (item.thumb) { img.src = `${seen.base}thumb/${i}.jpg?v=${item.thumb}`; img.alt = item.name; }
    caption.textContent = `${item.name}: ${item.status}`;
  });
  while (box.children.length > s.items.length) box.lastChild.remove();
  const count = (k) => s.items.filter((i) => i.status === k).length;
  $("items-title").textContent =
    `${count("done")} done, ${count("failed")} failed, ${count("pending") + count("running")} to go`;
}

function render(s) {
  const status = $("status");
  status.textContent = s.status;
  status.className = `status ${s.status}`;
  $("title").textContent = s.title;
  const now = s.scales[s.scale];
  $("scale").textContent = now ? `${s.scale + 1} of ${s.scales.length} (${now[0]}×${now[1]})` : "–";
  $("iteration").textContent = now ? `${s.iteration} of ${now[2]}` : "–";
  const rate = speed(seen.rows, s.scale);
  $("speed").textContent = isFinite(rate) ? `${rate.toFixed(2)} it/s` : "–";
  $("left").textContent = s.status === "running" ? `about ${duration(timeLeft(s, rate))}` : "–";
  $("elapsed").textContent = duration(s.elapsed);
  $("plan").textContent = s.plan;
  const message = $("message");
  message.textContent = s.message;
  message.className = `message ${s.status}`;
  const stop = $("stop");
  stop.disabled = s.stop_asked || ["done", "failed", "interrupted", "cancelled"].includes(s.status);
  if (s.stop_asked) stop.textContent = "Stopping…";
  renderItems(s);
  drawPlot($("plot"), seen.rows, s.scales);
}

async function poll(me) {
  let failures = 0;
  while (me === watching) {
    let s;
    try {
      const r = await fetch(`${seen.base}state?after=${seen.version}&epoch=${seen.epoch}&since=${seen.rows.length}`);
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      s = await r.json();
      failures = 0;
    } catch (e) {
      const ended = seen.latest && ["done", "failed", "interrupted", "cancelled"].includes(seen.latest.status);
      if (ended || ++failures > 5) {
        $("status").textContent = ended ? `${seen.latest.status} (the command has exited)` : "no connection";
        return;
      }
      await new Promise((ok) => setTimeout(ok, 1000));
      continue;
    }
    if (me !== watching) return;
    seen.rows = s.reset ? s.rows : seen.rows.concat(s.rows);
    seen.version = s.version;
    seen.epoch = s.epoch;
    seen.latest = s;
    render(s);
    if (s.picture > seen.picture && !seen.loading) loadPicture(s.picture);
  }
}

$("stop").addEventListener("click", async () => {
  $("stop").disabled = true;
  $("stop").textContent = "Stopping…";
  await fetch(`${seen.base}stop`, { method: "POST", headers: { "X-NST-JAX": "1" } });
});
window.addEventListener("resize", () => seen && seen.latest && drawPlot($("plot"), seen.rows, seen.latest.scales));
if (document.body.dataset.page === "preview") watchRun("");
