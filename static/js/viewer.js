/* Portal document viewer: how long each page is read, reported to the ingest endpoint.
 *
 * Vanilla ES2017, no dependencies (WeChat's in-app WebView, old Android WebViews).
 * Config comes from the viewer element: data-collect-url, data-confirm-url, data-ingest-token,
 * data-page-count.
 *
 * - The open: serving this page is not an open (link previews and scanners fetch it too). Once a
 *   page of the document is visible in a visible tab, {"s": token} is POSTed to data-confirm-url
 *   (retried with backoff on network errors, 429 and 5xx). Read-time reports are queued until
 *   the server has confirmed the open: it takes no reports of an unconfirmed session.
 * - The pages after the first get their images (data-srcset, data-src) once the first page's
 *   image is in, so that the first page has the whole of a slow network to itself.
 * - The current page is the page image most visible in the viewport (IntersectionObserver).
 * - Time accrues to the current page only while the tab is visible AND the reader is active:
 *   some input (scroll, touch, mouse, key, click) within the last 60 s.
 * - Reports ({k, type: "page.viewed", page, ms, at, final}) go out every 10 s while reading,
 *   at once when the page changes or the tab hides, and as a beacon on `pagehide` (final).
 * - Reports are queued and POSTed as {"s": token, "reports": [...]}; network errors, 429 and
 *   5xx keep them queued and retry with backoff (2 s, 4 s, ... 60 s), or after the answer's
 *   Retry-After (at most RETRY_AFTER_MAX_MS); another 4xx drops them (410: the link is gone,
 *   stop). Every report has its own uuid `k`, so a retry or a beacon repeating an in-flight
 *   request is counted once by the server.
 * - Unsent reports survive a closed tab: the queue is also kept in localStorage (under this
 *   link's path, with its session's token) and cleared only by a 2xx. sendBeacon cannot see
 *   its answer, so what the close-time beacon carried stays kept too (a 503 during an outage
 *   would otherwise lose it): the next load of this link sends every kept batch of an earlier
 *   session with that session's token, and clears it on a 2xx (or a 4xx: never taken). When
 *   the beacon was taken, the server drops the repeat by `k`.
 */
(() => {
  "use strict";

  // The optional "Who are you?" card of a forwarded reader: "Skip" hides it.
  const skip = document.querySelector("[data-visitor-skip]");
  if (skip) {
    skip.addEventListener("click", () => {
      const card = document.querySelector("[data-visitor-card]");
      if (card) card.hidden = true;
    });
  }

  // Pages after the first get their images once the first page's is in (or failed): on a
  // slow phone network they would otherwise share its bandwidth (they are near enough to the
  // screen for the browser's lazy loading to fetch them at once).
  const later = Array.prototype.slice.call(document.querySelectorAll("img[data-later]"));
  if (later.length) {
    const first = document.querySelector("[data-page='1'] img");
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const img of later) {
        const source = img.parentNode.querySelector("source[data-srcset]");
        if (source) source.srcset = source.getAttribute("data-srcset");
        img.src = img.getAttribute("data-src");
      }
    };
    if (!first || first.complete) release();
    else {
      first.addEventListener("load", release);
      first.addEventListener("error", release);
    }
  }

  const root = document.querySelector("[data-viewer]");
  if (!root) return;

  const HEARTBEAT_MS = 10000;
  const IDLE_MS = 60000;
  const BACKOFF_MIN_MS = 2000;
  const BACKOFF_MAX_MS = 60000;
  const MAX_BATCH = 50;
  const RETRY_AFTER_MAX_MS = 30000;
  const KEEP_MS = 7 * 24 * 3600 * 1000; // kept reports older than this are not sent again
  const STORE_KEY = "portal.unsent";
  const INPUT_EVENTS = ["scroll", "touchstart", "touchmove", "mousemove", "keydown", "click"];

  const collectUrl = root.getAttribute("data-collect-url");
  const confirmUrl = root.getAttribute("data-confirm-url");
  const token = root.getAttribute("data-ingest-token");
  const pageCount = parseInt(root.getAttribute("data-page-count"), 10) || 0;
  const pages = Array.prototype.slice.call(root.querySelectorAll("[data-page]"));
  const indicator = document.querySelector("[data-page-now]");
  if (!collectUrl || !confirmUrl || !token || !pages.length) return;

  const clock = () =>
    window.performance && typeof performance.now === "function" ? performance.now() : Date.now();

  function uuid() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID();
      } catch (e) {
        /* not a secure context: fall through */
      }
    }
    const b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const h = Array.prototype.map.call(b, (x) => (x + 0x100).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // --- reading time -----------------------------------------------------------------------

  let current = 1;
  let visible = document.visibilityState !== "hidden";
  let lastInput = clock(); // opening the document counts as activity
  let lastTick = lastInput; // accrued time is settled up to here
  let accrued = {}; // page -> ms read and not yet reported

  /* Credit the time since the last settle to the current page, but only while visible and
     only up to 60 s after the last input. */
  function settle(t) {
    if (visible) {
      const end = Math.min(t, lastInput + IDLE_MS);
      if (end > lastTick) accrued[current] = (accrued[current] || 0) + (end - lastTick);
    }
    lastTick = t;
  }

  function onInput() {
    const t = clock();
    if (t - lastInput >= IDLE_MS) settle(t); // the idle gap must not count
    lastInput = t;
  }

  // --- the queue and its delivery -----------------------------------------------------------

  let queue = [];
  let inflight = false;
  let retryTimer = null;
  let attempt = 0;
  let stopped = false;
  const stats = {
    reports: 0,
    posts: 0,
    accepted: 0,
    failures: 0,
    beacons: 0,
    resent: 0,
    lastStatus: null,
  };

  // --- the open: confirmed once a page is seen ------------------------------------------------

  let confirmed = false;
  let confirming = false;
  let confirmAttempt = 0;
  let confirmRetry = null;

  // --- consent mode (data-consent="ask"): nothing is sent until the reader agrees, once per
  // device (static/js/consent.js); "no" records nothing at all. Without consent.js, a page
  // that asks sends nothing.
  const asking = root.getAttribute("data-consent") === "ask";
  let consent = asking ? null : "yes";
  if (window.PortalConsent) {
    consent = window.PortalConsent.ask(asking, (value) => {
      consent = value;
      if (value === "yes") {
        pickCurrent();
        sendKept();
      }
      else stop();
    });
  }

  function confirmOpen() {
    if (consent !== "yes") return;
    if (confirmed || confirming || confirmRetry || stopped) return;
    if (document.visibilityState !== "visible") return;
    confirming = true;
    let request;
    try {
      request = post(JSON.stringify({ s: token }), confirmUrl);
    } catch (e) {
      request = Promise.reject(e);
    }
    request.then(
      (response) => {
        confirming = false;
        stats.lastStatus = response.status;
        if (response.ok) {
          confirmed = true;
          flush();
        } else if (response.status === 429 || response.status >= 500) {
          retryConfirm(response);
        } else {
          stop(); // the link is gone or the session unknown: nothing will be taken
        }
      },
      () => {
        confirming = false;
        retryConfirm(null);
      },
    );
  }

  function retryConfirm(response) {
    const delay = retryDelay(response, confirmAttempt);
    confirmAttempt++;
    confirmRetry = setTimeout(() => {
      confirmRetry = null;
      confirmOpen();
    }, delay);
  }

  function report(page, final) {
    const ms = Math.round(accrued[page] || 0);
    delete accrued[page];
    if (ms <= 0 && !final) return null;
    const item = { k: uuid(), type: "page.viewed", page, ms, at: Date.now(), final: !!final };
    if (!stopped) {
      queue.push(item);
      stats.reports++;
      keep();
    }
    return item;
  }

  /* Drop a batch the server answered for (`forget`: also from the kept copy). */
  function drop(batch, forget) {
    queue = queue.filter((item) => batch.indexOf(item) < 0);
    if (forget) keep();
  }

  function stop() {
    stopped = true;
    queue = [];
    keep();
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
  }

  // --- reports kept across a closed tab (localStorage) ------------------------------------------

  const here = window.location.pathname;

  function loadKept() {
    try {
      const store = JSON.parse(window.localStorage.getItem(STORE_KEY) || "{}");
      return store && typeof store === "object" ? store : {};
    } catch (e) {
      return {}; // no storage (private mode, a WebView without it): nothing is kept
    }
  }

  function saveKept(store) {
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify(store));
    } catch (e) {
      /* full or unavailable: the reports are still sent while the page lives */
    }
  }

  /* Replace this link's kept entry of session `s` by `reports` (none: remove it). */
  function keepEntry(s, reports) {
    const store = loadKept();
    const entries = (store[here] || []).filter((entry) => entry && entry.s !== s);
    if (reports.length) entries.push({ s, r: reports, t: Date.now() });
    if (entries.length) store[here] = entries;
    else delete store[here];
    saveKept(store);
  }

  function keep() {
    keepEntry(token, queue);
  }

  /* How long to wait before the next attempt: the answer's Retry-After (capped), else the
     exponential backoff of this attempt. */
  function retryDelay(response, tries) {
    const header = response && response.headers ? response.headers.get("Retry-After") : null;
    const seconds = header === null ? NaN : parseInt(header, 10);
    if (seconds >= 0) return Math.min(seconds * 1000, RETRY_AFTER_MAX_MS);
    return Math.min(BACKOFF_MIN_MS * Math.pow(2, tries), BACKOFF_MAX_MS);
  }

  /* Send the kept reports of earlier sessions of this link (a tab closed before they were
     taken), each with its own session's token; a 2xx or another 4xx clears them. */
  function sendKept() {
    const entries = (loadKept()[here] || []).filter(
      (entry) => entry && entry.s !== token && Date.now() - entry.t < KEEP_MS,
    );
    entries.forEach((entry) => sendKeptEntry(entry, 0));
  }

  function sendKeptEntry(entry, tries) {
    const batch = entry.r.slice(0, MAX_BATCH);
    const again = (response) =>
      setTimeout(() => sendKeptEntry(entry, tries + 1), retryDelay(response, tries));
    let request;
    try {
      request = post(JSON.stringify({ s: entry.s, reports: batch }));
    } catch (e) {
      request = Promise.reject(e);
    }
    request.then(
      (response) => {
        stats.lastStatus = response.status;
        if (response.status === 429 || response.status >= 500) return again(response);
        if (response.ok) stats.resent += batch.length;
        entry.r = entry.r.slice(batch.length);
        keepEntry(entry.s, entry.r);
        if (entry.r.length) sendKeptEntry(entry, 0);
      },
      () => again(null),
    );
  }

  function post(body, url) {
    const target = url || collectUrl;
    if (typeof window.fetch === "function") {
      return window.fetch(target, {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body,
      });
    }
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", target, true);
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.onload = () =>
        resolve({
          ok: xhr.status >= 200 && xhr.status < 300,
          status: xhr.status,
          headers: { get: (name) => xhr.getResponseHeader(name) },
        });
      xhr.onerror = () => reject(new Error("network"));
      xhr.send(body);
    });
  }

  function scheduleRetry(response) {
    const delay = retryDelay(response, attempt);
    attempt++;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      flush();
    }, delay);
  }

  /* Send the queue's head. `urgent` (the tab is hiding) does not wait for a pending retry. */
  function flush(urgent) {
    if (stopped || !confirmed || inflight || !queue.length) return;
    if (retryTimer) {
      if (!urgent) return;
      clearTimeout(retryTimer);
      retryTimer = null;
    }
    const batch = queue.slice(0, MAX_BATCH);
    inflight = true;
    stats.posts++;
    let request;
    try {
      request = post(JSON.stringify({ s: token, reports: batch }));
    } catch (e) {
      request = Promise.reject(e);
    }
    request.then(
      (response) => {
        inflight = false;
        stats.lastStatus = response.status;
        if (response.ok) {
          stats.accepted += batch.length;
          attempt = 0;
          drop(batch, true);
          flush();
        } else if (response.status === 429 || response.status >= 500) {
          stats.failures++;
          scheduleRetry(response);
        } else {
          drop(batch, true); // the server will never take these
          if (response.status === 410) stop();
          else flush();
        }
      },
      () => {
        inflight = false;
        stats.failures++;
        scheduleRetry(null);
      },
    );
  }

  /* The page is going away: everything queued (in-flight requests included: duplicates are
     dropped by `k`) goes by sendBeacon, which outlives the page. Its answer is never known:
     the kept copy (written by report() before this) stays for the next load. */
  function beacon() {
    if (stopped || !confirmed || !queue.length) return;
    while (queue.length) {
      const batch = queue.slice(0, MAX_BATCH);
      const body = JSON.stringify({ s: token, reports: batch });
      let sent = false;
      try {
        sent = typeof navigator.sendBeacon === "function" && navigator.sendBeacon(collectUrl, body);
      } catch (e) {
        sent = false;
      }
      if (!sent) {
        inflight = false;
        flush(true); // fetch with keepalive also outlives the page
        return;
      }
      stats.beacons++;
      drop(batch, false);
    }
  }

  // --- the current page ---------------------------------------------------------------------

  const visibleHeight = {};

  function setCurrent(page) {
    if (page === current) return;
    settle(clock());
    const previous = current;
    current = page;
    if (indicator) indicator.textContent = String(page);
    if (report(previous, false)) flush();
  }

  function pickCurrent() {
    let best = current;
    let bestHeight = 0;
    for (const el of pages) {
      const n = parseInt(el.getAttribute("data-page"), 10);
      const h = visibleHeight[n] || 0;
      if (h > bestHeight) {
        best = n;
        bestHeight = h;
      }
    }
    if (bestHeight > 0) {
      setCurrent(best);
      confirmOpen(); // a page is on screen
    }
  }

  if ("IntersectionObserver" in window) {
    const thresholds = [];
    for (let i = 0; i <= 20; i++) thresholds.push(i / 20);
    const observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const n = parseInt(entry.target.getAttribute("data-page"), 10);
          visibleHeight[n] = entry.isIntersecting ? entry.intersectionRect.height : 0;
        }
        pickCurrent();
      },
      { threshold: thresholds },
    );
    pages.forEach((el) => observer.observe(el));
  } else {
    let scheduled = false;
    const measure = () => {
      scheduled = false;
      const viewport = window.innerHeight || document.documentElement.clientHeight;
      for (const el of pages) {
        const r = el.getBoundingClientRect();
        const n = parseInt(el.getAttribute("data-page"), 10);
        visibleHeight[n] = Math.max(0, Math.min(r.bottom, viewport) - Math.max(r.top, 0));
      }
      pickCurrent();
    };
    const onScroll = () => {
      if (!scheduled) {
        scheduled = true;
        (window.requestAnimationFrame || setTimeout)(measure);
      }
    };
    window.addEventListener("scroll", onScroll, { passive: true });
    window.addEventListener("resize", onScroll, { passive: true });
    measure();
  }

  // --- events -------------------------------------------------------------------------------

  INPUT_EVENTS.forEach((type) =>
    window.addEventListener(type, onInput, { passive: true, capture: true }),
  );

  setInterval(() => {
    if (!visible || stopped) return;
    settle(clock());
    if (report(current, false)) flush();
  }, HEARTBEAT_MS);

  document.addEventListener("visibilitychange", () => {
    const t = clock();
    if (document.visibilityState === "hidden") {
      settle(t);
      visible = false;
      report(current, false);
      flush(true);
    } else {
      visible = true;
      lastTick = t;
      lastInput = t; // coming back to the tab is activity
      pickCurrent(); // a tab opened in the background is seen now
    }
  });

  window.addEventListener("pagehide", () => {
    settle(clock());
    visible = false;
    for (const page of Object.keys(accrued)) {
      const n = parseInt(page, 10);
      if (n !== current) report(n, false);
    }
    report(current, true);
    beacon();
  });

  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return; // restored from the back/forward cache: reading again
    visible = document.visibilityState !== "hidden";
    lastTick = clock();
    lastInput = lastTick;
  });

  if (consent === "yes") sendKept();

  // For tests and debugging only: a read-only snapshot and a way to send now.
  window.PortalViewer = Object.freeze({
    pageCount,
    snapshot: () => ({
      current,
      visible,
      confirmed,
      consent,
      active: clock() - lastInput < IDLE_MS,
      queued: queue.length,
      inflight,
      stopped,
      accrued: Object.assign({}, accrued),
      stats: Object.assign({}, stats),
    }),
    flush: () => flush(true),
  });
})();
