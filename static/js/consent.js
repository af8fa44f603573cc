/* Consent mode (PORTAL_TRACKING_MODE=consent), shared by the viewer and the portal page: the
 * reader is asked once per device (the answer is kept in localStorage under one key, so a
 * reader who answered on one page is not asked again on the other). Until they answer "yes",
 * the page sends nothing about them.
 *
 * PortalConsent.ask(asking, onAnswer): the answer known now ("yes" when the page does not ask,
 * "yes"/"no" when this device answered before, null when it has not); shows the page's
 * [data-consent-ask] box when there is no answer, and calls onAnswer("yes"|"no") on a click. */
(() => {
  "use strict";

  const KEY = "portal.consent";

  function stored() {
    try {
      return window.localStorage.getItem(KEY);
    } catch (e) {
      return null; // storage blocked: ask on every page
    }
  }

  function keep(value) {
    try {
      window.localStorage.setItem(KEY, value);
    } catch (e) {
      /* remembered for this page only */
    }
  }

  function ask(asking, onAnswer) {
    if (!asking) return "yes";
    const answer = stored();
    const box = document.querySelector("[data-consent-ask]");
    if (!box) return answer;
    if (answer === null) box.hidden = false;
    function choose(value) {
      keep(value);
      box.hidden = true;
      onAnswer(value);
    }
    const accept = box.querySelector("[data-consent-accept]");
    const decline = box.querySelector("[data-consent-decline]");
    if (accept) accept.addEventListener("click", () => choose("yes"));
    if (decline) decline.addEventListener("click", () => choose("no"));
    return answer;
  }

  window.PortalConsent = Object.freeze({ ask });
})();
