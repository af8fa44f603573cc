/* The customer's portal page: confirms the visit once the page is visible in a visible tab
 * (portal.delivery.portal_visits). A link preview or a scanner that fetches /p/<token> never
 * runs this, so its fetch stays a preview. One POST per page load; retried a few times.
 *
 * Consent mode (data-consent="ask", static/js/consent.js): the visit is confirmed only once the
 * reader agreed on this device; a reader who declines is never confirmed, so the page load
 * stays one anonymous, unscored count. */
(() => {
  "use strict";

  const el = document.querySelector("[data-portal-visit]");
  if (!el) return;
  const url = el.getAttribute("data-visit-url");
  const token = el.getAttribute("data-visit-token");
  if (!url || !token) return;

  let done = false;
  let attempts = 0;
  const asking = el.getAttribute("data-consent") === "ask";
  let consent = asking ? null : "yes"; // without consent.js, a page that asks sends nothing
  if (window.PortalConsent) {
    consent = window.PortalConsent.ask(asking, (value) => {
      consent = value;
      send();
    });
  }

  function send() {
    if (done || consent !== "yes" || document.visibilityState !== "visible") return;
    done = true;
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ s: token }),
      credentials: "same-origin",
      keepalive: true,
    })
      .then((response) => {
        if (response.status >= 500 || response.status === 429) throw new Error("retry");
      })
      .catch(() => {
        attempts++;
        if (attempts < 5) {
          done = false;
          setTimeout(send, 2000 * Math.pow(2, attempts));
        }
      });
  }

  window.PortalVisit = Object.freeze({
    snapshot: () => ({ consent, sent: done }),
  });
  if (document.visibilityState === "visible") send();
  document.addEventListener("visibilitychange", send);
})();
