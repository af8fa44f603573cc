/* Live "reading now" badges on staff pages (portal.live): every element with
 * data-live-customer="<id>" shows "Reading now, page N" while that customer reads.
 *
 * Server-Sent Events from GET /live (`snapshot`, then `reading` and `stopped`); the server closes
 * a stream after ~25 s and EventSource reconnects after its `retry:`. Each stream starts with a
 * `snapshot` of everybody reading, which replaces what the page knew: a `stopped` published
 * during the reconnect never arrives, and the snapshot is what ends that reader's badge. A
 * refused stream (503: no Redis on this server, or this process's streams are all open) closes
 * the EventSource: the page then polls GET /live/now every poll_seconds and tries streaming
 * again later. A reader with no news
 * for 30 s is dropped here too (the server's rule, portal.live.readers.STOPPED_AFTER). */
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || !document.querySelector("[data-live-customer]")) return;
  const label = script.getAttribute("data-label") || "{page}";
  const streamUrl = script.getAttribute("data-stream");
  const pollUrl = script.getAttribute("data-poll");
  const STOPPED_MS = 30000;
  const RETRY_STREAM_MS = 60000;
  const readers = new Map(); // "customer:delivery" -> {customer_id, page, at}
  let pollTimer = null;

  function render() {
    const latest = new Map();
    for (const r of readers.values()) {
      const seen = latest.get(r.customer_id);
      if (!seen || r.at >= seen.at) latest.set(r.customer_id, r);
    }
    for (const el of document.querySelectorAll("[data-live-customer]")) {
      const r = latest.get(Number(el.getAttribute("data-live-customer")));
      el.hidden = !r;
      el.textContent = r ? label.replace("{page}", String(r.page || 1)) : "";
    }
  }

  function remember(d) {
    // age_ms: how long before the server's snapshot the reader was last heard from (0 for a
    // message just published), so that a snapshot sent again does not restart the 30 s.
    readers.set(d.customer_id + ":" + d.delivery_id, {
      customer_id: d.customer_id,
      page: d.page,
      at: Date.now() - (Number(d.age_ms) || 0),
    });
  }

  function reading(d) {
    remember(d);
    render();
  }

  function snapshot(d) {
    readers.clear();
    (d.readers || []).forEach(remember);
    render();
  }

  function stopped(d) {
    readers.delete(d.customer_id + ":" + d.delivery_id);
    render();
  }

  setInterval(() => {
    const now = Date.now();
    let changed = false;
    for (const [key, r] of readers) {
      if (now - r.at >= STOPPED_MS) {
        readers.delete(key);
        changed = true;
      }
    }
    if (changed) render();
  }, 5000);

  let polling = false;

  function poll() {
    if (!polling) return;
    fetch(pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        if (!polling) return;
        if (body) snapshot(body);
        pollTimer = setTimeout(poll, ((body && body.poll_seconds) || 10) * 1000);
      })
      .catch(() => {
        if (polling) pollTimer = setTimeout(poll, 10000);
      });
  }

  function startPolling() {
    if (polling) return;
    polling = true;
    poll();
  }

  function stopPolling() {
    polling = false;
    clearTimeout(pollTimer);
  }

  function stream() {
    if (script.getAttribute("data-mode") !== "stream" || !window.EventSource) {
      startPolling();
      return;
    }
    const source = new EventSource(streamUrl);
    source.addEventListener("snapshot", (e) => snapshot(JSON.parse(e.data)));
    source.addEventListener("reading", (e) => reading(JSON.parse(e.data)));
    source.addEventListener("stopped", (e) => stopped(JSON.parse(e.data)));
    source.addEventListener("open", stopPolling);
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return; // reconnecting by itself
      startPolling(); // refused (503): poll, and try streaming again later
      setTimeout(stream, RETRY_STREAM_MS);
    };
  }

  stream();
})();
