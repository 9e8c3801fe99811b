// autotag web page: drop or pick photos, POST each to /v1/tag, show tag chips with
// score bars in upload order. Plain JS, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const els = {
    drop: $("drop"), pick: $("pick"), camera: $("camera"), thr: $("thr"), thrOut: $("thr-out"),
    copy: $("copy"), clear: $("clear"), results: $("results"), empty: $("empty"), model: $("model"),
    banner: $("banner"), keybox: $("keybox"), key: $("key"), keySave: $("key-save"), tpl: $("card-tpl"),
    origin: $("origin"),
  };

  // The page shows the server's own selection (the model's per-class thresholds,
  // the server's default threshold and top-k), so it shows exactly the tags the API
  // and the CLI give for the same photo. The slider can only hide more of them; at
  // 0 it is off.
  const PARALLEL = 3;       // uploads in flight at once
  const MAX_RETRIES = 4;    // for 503/429 with Retry-After

  const items = [];         // {file, url, card, state, result, error}
  const waiting = [];
  let running = 0;
  let modelName = "";
  let limits = { maxPixels: 40e6, maxBody: 32 << 20 }; // replaced by /v1/model

  els.origin.textContent = location.origin;

  const store = {
    get(k) { try { return localStorage.getItem(k); } catch { return null; } },
    set(k, v) { try { v == null ? localStorage.removeItem(k) : localStorage.setItem(k, v); } catch { /* private mode */ } },
  };

  // ---- hide-below slider ----------------------------------------------------------
  function threshold() { return parseFloat(els.thr.value) || 0; }
  function showThreshold() { els.thrOut.textContent = threshold() > 0 ? threshold().toFixed(2) : "off"; }
  els.thr.addEventListener("input", () => {
    showThreshold();
    items.forEach(renderTags);
  });
  showThreshold();

  // ---- model ------------------------------------------------------------------
  function headers(extra) {
    const h = Object.assign({}, extra);
    const key = store.get("autotag.key");
    if (key) h["Authorization"] = "Bearer " + key;
    return h;
  }
  async function loadModel() {
    try {
      const resp = await fetch("/v1/model", { headers: headers() });
      if (resp.status === 401) { askKey(); els.model.textContent = "API key needed"; return; }
      if (!resp.ok) throw new Error(await errorText(resp));
      const m = await resp.json();
      modelName = m.name;
      limits = { maxPixels: m.max_pixels || limits.maxPixels, maxBody: m.max_body_bytes || limits.maxBody };
      els.model.textContent = `${m.name} · ${m.classes.length} classes`;
      els.model.title = [m.arch, m.layout, m.source].filter(Boolean).join(" · ");
      els.model.classList.remove("bad");
    } catch (e) {
      els.model.textContent = "model unavailable";
      els.model.classList.add("bad");
    }
  }

  // ---- API key ------------------------------------------------------------------
  function askKey() { els.keybox.hidden = false; els.key.focus(); }
  function saveKey() {
    const k = els.key.value.trim();
    if (!k) return;
    store.set("autotag.key", k);
    els.key.value = "";
    els.keybox.hidden = true;
    loadModel();
    items.filter((it) => it.state === "failed" && it.status === 401).forEach(enqueue);
  }
  els.keySave.addEventListener("click", saveKey);
  els.key.addEventListener("keydown", (e) => { if (e.key === "Enter") saveKey(); });

  // ---- banner -------------------------------------------------------------------
  let bannerTimer = 0;
  function banner(msg, ok) {
    els.banner.textContent = msg;
    els.banner.classList.toggle("ok", !!ok);
    els.banner.hidden = !msg;
    clearTimeout(bannerTimer);
    if (msg) bannerTimer = setTimeout(() => { els.banner.hidden = true; }, ok ? 2500 : 8000);
  }

  // ---- adding files -------------------------------------------------------------
  function addFiles(fileList) {
    const files = Array.from(fileList || []);
    let skipped = 0;
    for (const file of files) {
      if (file.type && !file.type.startsWith("image/")) { skipped++; continue; }
      const it = { file, url: URL.createObjectURL(file), state: "queued", retries: 0 };
      it.card = makeCard(it);
      items.push(it);
      enqueue(it);
    }
    if (skipped) banner(`${skipped} file${skipped > 1 ? "s are" : " is"} not an image and ${skipped > 1 ? "were" : "was"} skipped.`);
    updateButtons();
  }

  function makeCard(it) {
    const card = els.tpl.content.firstElementChild.cloneNode(true);
    const img = card.querySelector(".thumb img");
    img.src = it.url;
    img.alt = it.file.name;
    img.addEventListener("error", () => { img.replaceWith(Object.assign(document.createElement("span"), { className: "meta", textContent: "no preview" })); });
    card.querySelector(".name").textContent = it.file.name || "photo";
    card.querySelector(".name").title = it.file.name || "";
    card.querySelector(".meta").textContent = formatBytes(it.file.size);
    els.results.append(card);
    els.empty.hidden = true;
    return card;
  }

  function setState(it, state, text) {
    it.state = state;
    it.card.dataset.state = state;
    it.card.classList.toggle("busy", state === "queued" || state === "uploading" || state === "waiting");
    it.card.classList.toggle("failed", state === "failed");
    it.card.querySelector(".status").textContent = text || "";
  }

  // ---- upload queue -------------------------------------------------------------
  function enqueue(it) {
    it.retries = 0;
    setState(it, "queued", "Waiting…");
    waiting.push(it);
    pump();
  }
  function pump() {
    while (running < PARALLEL && waiting.length) {
      const it = waiting.shift();
      running++;
      upload(it).finally(() => { running--; pump(); updateButtons(); });
    }
  }

  // fitToLimits returns the file itself when the server will take it, else a JPEG
  // scaled down in the browser to fit the server's pixel and size limits (a 50 MP
  // phone photo, say). Files within the limits go as they are, so the page gets
  // exactly the tags curl gets for the same file.
  async function fitToLimits(it) {
    if (it.upload) return it.upload;
    it.upload = it.file;
    if (!("createImageBitmap" in window)) return it.upload;
    let bmp;
    try { bmp = await createImageBitmap(it.file); } catch { return it.upload; } // let the server explain
    const px = bmp.width * bmp.height;
    if (px <= limits.maxPixels && it.file.size <= limits.maxBody) { bmp.close(); return it.upload; }
    const scale = Math.min(1, Math.sqrt((limits.maxPixels * 0.95) / px), 4096 / Math.max(bmp.width, bmp.height));
    const w = Math.max(1, Math.round(bmp.width * scale)), h = Math.max(1, Math.round(bmp.height * scale));
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").drawImage(bmp, 0, 0, w, h);
    bmp.close();
    const blob = await new Promise((res) => canvas.toBlob(res, "image/jpeg", 0.92));
    if (blob) {
      it.upload = blob;
      it.resized = `resized from ${Math.round(px / 1e6)} MP`;
    }
    return it.upload;
  }

  async function upload(it) {
    setState(it, "uploading", "Tagging…");
    const url = "/v1/tag";
    let resp;
    try {
      const body = await fitToLimits(it);
      resp = await fetch(url, {
        method: "POST",
        headers: headers({ "Content-Type": body.type || "application/octet-stream" }),
        body,
      });
    } catch (e) {
      return fail(it, 0, "Cannot reach the server. Check your connection and try again.");
    }
    if (resp.ok) {
      let data;
      try { data = await resp.json(); } catch { return fail(it, resp.status, "The server sent an unreadable answer."); }
      it.result = data.results[0];
      it.model = data.model;
      it.requestId = data.request_id;
      const t = data.timing_ms || {};
      it.card.querySelector(".meta").textContent =
        `${it.result.width}×${it.result.height} · ${Math.round(t.total || 0)} ms`;
      if (it.resized) it.card.querySelector(".meta").title = it.resized;
      setState(it, "done", "");
      renderTags(it);
      return;
    }
    const msg = await errorText(resp);
    if ((resp.status === 503 || resp.status === 429) && it.retries < MAX_RETRIES) {
      it.retries++;
      const wait = Math.min(30, parseInt(resp.headers.get("Retry-After"), 10) || 1) * 1000 * it.retries;
      setState(it, "waiting", `Server busy — retrying in ${Math.round(wait / 1000)} s…`);
      await new Promise((r) => setTimeout(r, wait));
      return upload(it);
    }
    if (resp.status === 401) askKey();
    fail(it, resp.status, msg);
  }

  function fail(it, status, msg) {
    it.status = status;
    it.error = msg;
    setState(it, "failed", msg);
    it.card.querySelector(".tags").replaceChildren();
    it.card.querySelector(".hidden-count").textContent = "";
  }

  // errorText turns an error response into a sentence for people.
  async function errorText(resp) {
    let code = "", message = "";
    try { const j = await resp.json(); code = j.error.code; message = j.error.message; } catch { /* not JSON */ }
    const friendly = {
      unsupported_media_type: "This file is not a photo the server can read (JPEG, PNG, GIF, WebP, BMP or TIFF).",
      invalid_image: "This image is damaged or incomplete.",
      image_too_large: "This image has too many pixels for the server.",
      payload_too_large: "This file is too big to upload.",
      unauthorized: "This server needs an API key.",
      rate_limited: "Too many photos at once — slow down a little.",
      overloaded: "The server is busy. Try again in a moment.",
      not_ready: "The server is restarting. Try again in a moment.",
      timeout: "The server took too long to answer.",
    }[code];
    if (friendly) return friendly;
    if (message) return message;
    return `The server answered ${resp.status} ${resp.statusText}.`;
  }

  // ---- rendering tags -----------------------------------------------------------
  function renderTags(it) {
    if (it.state !== "done" || !it.result) return;
    const th = threshold();
    const shown = it.result.tags.filter((t) => t.score >= th); // th 0: all of them
    const list = it.card.querySelector(".tags");
    const rows = shown.map((t) => {
      const li = document.createElement("li");
      li.className = "tag";
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = t.label;
      chip.title = t.label;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = (t.score * 100).toFixed(t.score >= 0.995 ? 0 : 1) + "%";
      const meter = document.createElement("span");
      meter.className = "meter";
      const bar = document.createElement("i");
      bar.style.width = Math.max(2, t.score * 100).toFixed(1) + "%";
      meter.append(bar);
      li.append(chip, score, meter);
      return li;
    });
    list.replaceChildren(...rows);
    const hidden = it.result.tags.length - shown.length;
    let note = "";
    if (!shown.length) note = it.result.tags.length ? "No tag reaches this value — move the slider left to see them." : "No tag reaches the model's thresholds.";
    else if (hidden) note = `${hidden} more below ${th.toFixed(2)}`;
    it.card.querySelector(".hidden-count").textContent = note;
  }

  // ---- copy and clear -----------------------------------------------------------
  function currentJSON() {
    const th = threshold();
    const done = items.filter((it) => it.state === "done");
    return JSON.stringify({
      model: modelName || (done[0] && done[0].model) || "",
      hide_below: th > 0 ? th : null,
      results: done.map((it) => ({
        name: it.file.name, width: it.result.width, height: it.result.height,
        tags: it.result.tags.filter((t) => t.score >= th),
      })),
    }, null, 2);
  }
  els.copy.addEventListener("click", async () => {
    const text = currentJSON();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const ta = Object.assign(document.createElement("textarea"), { value: text });
      document.body.append(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    banner("Copied the tags as JSON.", true);
  });
  els.clear.addEventListener("click", () => {
    waiting.length = 0;
    for (const it of items) URL.revokeObjectURL(it.url);
    items.length = 0;
    els.results.replaceChildren();
    els.empty.hidden = false;
    banner("");
    updateButtons();
  });
  function updateButtons() {
    els.copy.disabled = !items.some((it) => it.state === "done");
    els.clear.disabled = items.length === 0;
  }

  // ---- inputs: picker, camera, drag and drop, paste ------------------------------
  els.pick.addEventListener("change", () => { addFiles(els.pick.files); els.pick.value = ""; });
  els.camera.addEventListener("change", () => { addFiles(els.camera.files); els.camera.value = ""; });
  els.drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); els.pick.click(); }
  });
  let depth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; els.drop.classList.add("over"); });
  window.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; els.drop.classList.remove("over"); } });
  window.addEventListener("dragover", (e) => { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = "copy"; });
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    els.drop.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
  });
  window.addEventListener("paste", (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (files.length) addFiles(files);
  });

  function formatBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1 << 20) return (n / 1024).toFixed(0) + " KB";
    return (n / (1 << 20)).toFixed(1) + " MB";
  }

  // ---- PWA ----------------------------------------------------------------------
  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    window.addEventListener("load", () => { navigator.serviceWorker.register("/sw.js").catch(() => {}); });
  }

  loadModel();
  // For tests and debugging: the state of every photo.
  window.autotag = { items, addFiles, currentJSON };
})();
