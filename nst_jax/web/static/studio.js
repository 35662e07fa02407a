// The studio: images and options chosen, runs started (POST api/runs), the one chosen
// watched as the preview watches its run (preview.js's watchRun), every run in the gallery
// with its result, log, score and downloads, and any two or more compared side by side.
"use strict";
const api = (path, options) => fetch(`api/${path}`, options);
const post = (path, body, type) =>
  api(path, { method: "POST", body, headers: { "X-NST-JAX": "1", "Content-Type": type } });
const chosen = { content: null, styles: new Set() };
const compared = new Set();
let setup = null;
let watchedId = null;

function imageURL(ref) {
  return ref.startsWith("example:") ? `api/example/${ref.slice(8)}` : `api/uploads/${ref}.png`;
}

function showError(text) {
  $("form-error").textContent = text.trim();
}

function addChoice(box, ref, multi, name) {
  const img = document.createElement("img");
  img.src = imageURL(ref);
  img.title = img.alt = name || ref.slice(8);
  img.dataset.ref = ref;
  img.addEventListener("click", () => choose(box, ref, multi));
  box.append(img);
}

function choose(box, ref, multi) {
  if (!multi) chosen.content = ref;
  else if (chosen.styles.has(ref) && chosen.styles.size > 1) chosen.styles.delete(ref);
  else chosen.styles.add(ref);
  for (const img of box.children) {
    const on = multi ? chosen.styles.has(img.dataset.ref) : img.dataset.ref === chosen.content;
    img.classList.toggle("chosen", on);
  }
}

function fill(id, values, value, label = (v) => v) {
  $(id).replaceChildren(...values.map((v) => new Option(label(v), v ?? "", false, v === value)));
}

function factor() {
  return 10 ** Number($("style-factor").value);
}

async function upload(input, box, multi) {
  const file = input.files[0];
  if (!file) return;
  if (file.size > setup.upload_bytes) return showError(`${file.name} is over ${setup.upload_bytes >> 20} MiB`);
  const r = await post(`uploads?name=${encodeURIComponent(file.name)}`, file, "application/octet-stream");
  input.value = "";
  if (!r.ok) return showError(`${file.name}: ${await r.text()}`);
  const kept = await r.json();
  addChoice(box, kept.id, multi, kept.name);
  choose(box, kept.id, multi);
  showError("");
}

async function start() {
  const options = {};
  for (const id of ["size", "iters", "style_loss", "preserve_colors", "model", "optimizer"]) options[id] = $(id).value;
  const body = { content: chosen.content, styles: [...chosen.styles], options, style_factor: factor() };
  const r = await post("runs", JSON.stringify(body), "application/json");
  if (!r.ok) return showError(await r.text());
  showError("");
  watch((await r.json()).id);
  refreshGallery();
}

function watch(id) {
  watchedId = id;
  watchRun(`api/runs/${id}/`);
  for (const card of $("gallery").children) card.classList.toggle("watched", card.dataset.id === id);
}

function describe(run) {
  const o = run.options;
  const names = `${run.names[0]} ← ${run.names.slice(1).join(" + ")}`;
  const options = `${o.size || 256} px, ${o.iters || 200} it., ${o.style_loss || "gram"}, style ×${run.style_factor.toPrecision(2)}`;
  const more = [o.model, o.optimizer, o.preserve_colors && `colours: ${o.preserve_colors}`].filter(Boolean).join(", ");
  const s = run.summary, score = run.score;
  const done = s ? `${s.iterations} it. in ${s.seconds.toFixed(1)} s` : "";
  const scored = score ? `score: content ${score.content.toPrecision(3)}, style ${score.style.toPrecision(3)}` : "";
  return [names, options, more, `${run.state}${done ? ": " + done : ""}`, scored, run.error || ""].filter(Boolean);
}

function card(run) {
  const c = document.createElement("div");
  c.className = "run";
  c.dataset.id = run.id;
  const img = document.createElement("img");
  img.alt = run.names.join(", ");
  img.addEventListener("click", () => watch(run.id));
  const text = document.createElement("div");
  const links = document.createElement("div");
  links.className = "links";
  c.append(img, text, links);
  return c;
}

function update(c, run) {
  const key = `${run.state}|${run.picture}|${compared.has(run.id)}`;
  c.classList.toggle("watched", run.id === watchedId);
  if (c.dataset.key === key) return;
  c.dataset.key = key;
  const [img, text, links] = c.children;
  const written = ["done", "interrupted"].includes(run.state) && run.summary;
  const src = written ? `api/runs/${run.id}/output.png?v=${run.ended}` : run.picture ? `api/runs/${run.id}/image.jpg?v=${run.picture}` : "";
  if (src && img.getAttribute("src") !== src) img.src = src;
  text.replaceChildren(...describe(run).map((line) => Object.assign(document.createElement("div"), { textContent: line })));
  const watchButton = Object.assign(document.createElement("button"), { textContent: "Watch" });
  watchButton.addEventListener("click", () => watch(run.id));
  const parts = [watchButton];
  if (written) {
    const a = (file, label) => Object.assign(document.createElement("a"), { href: `api/runs/${run.id}/${file}`, textContent: label, download: "" });
    const tick = Object.assign(document.createElement("input"), { type: "checkbox", checked: compared.has(run.id), title: "compare" });
    tick.addEventListener("change", () => { tick.checked ? compared.add(run.id) : compared.delete(run.id); renderCompare(); });
    const label = Object.assign(document.createElement("label"), { className: "tick" });
    label.append(tick, " compare");
    parts.push(a("output.png", "Download"), a("log.json", "Log"), label);
  } else if (["queued", "running"].includes(run.state)) {
    const stop = Object.assign(document.createElement("button"), { textContent: run.state === "queued" ? "Cancel" : "Stop", className: "stop" });
    stop.addEventListener("click", () => post(`runs/${run.id}/stop`, "", "text/plain").then(refreshGallery));
    parts.push(stop);
  }
  links.replaceChildren(...parts);
}

let runs = [];
function renderCompare() {
  const box = $("compare");
  const picked = runs.filter((r) => compared.has(r.id));
  box.hidden = picked.length < 2;
  box.replaceChildren(...picked.map((run) => {
    const f = document.createElement("figure");
    const img = Object.assign(document.createElement("img"), { src: `api/runs/${run.id}/output.png?v=${run.ended}`, alt: run.id });
    const caption = document.createElement("figcaption");
    caption.textContent = describe(run).join(" · ");
    f.append(img, caption);
    return f;
  }));
}

async function refreshGallery() {
  const r = await api("runs");
  if (!r.ok) return;
  runs = await r.json();
  const box = $("gallery");
  for (const run of [...runs].reverse()) { // (the newest first)
    let c = [...box.children].find((e) => e.dataset.id === run.id);
    if (!c) { c = card(run); box.prepend(c); }
    update(c, run);
  }
  if (!watchedId) { // (a page opened later watches what runs now, or the latest)
    const live = runs.find((run) => run.state === "running") || runs[runs.length - 1];
    if (live) watch(live.id);
  }
}

async function init() {
  setup = await (await api("setup")).json();
  setup.contents.forEach((ref) => addChoice($("contents"), ref, false));
  setup.styles.forEach((ref) => addChoice($("styles"), ref, true));
  choose($("contents"), setup.contents[0], false);
  choose($("styles"), setup.styles[0], true);
  const c = setup.choices, d = setup.defaults;
  fill("style_loss", c.style_loss, d.style_loss);
  fill("preserve_colors", [null, ...c.preserve_colors], null, (v) => v ?? "the style's");
  fill("model", c.model, setup.model, (v) => (v === setup.model ? `${v} (the weights found)` : v));
  fill("optimizer", c.optimizer, d.optimizer);
  $("size").value = String(d.size);
  $("iters").value = String(d.iters);
  $("style-factor").addEventListener("input", () => { $("style-factor-shown").textContent = `×${factor().toPrecision(2)} the default`; });
  $("upload-content").addEventListener("change", (e) => upload(e.target, $("contents"), false));
  $("upload-style").addEventListener("change", (e) => upload(e.target, $("styles"), true));
  $("start").addEventListener("click", start);
  await refreshGallery();
  setInterval(refreshGallery, 2000);
}

init();
