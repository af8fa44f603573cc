/* Bulk sends (portal.routes.bulk_sends).
 *
 * On the customer list: the ticked customers and "all matching" feed the bulk-send form; the
 * bar shows how many are chosen.
 * On a batch's progress page: polls the batch's progress JSON (same origin, signed-in session)
 * and moves the bar and the counts without a reload; when every send is done or failed, shows
 * the failures with their reasons and the retry button, and stops polling. */
(() => {
  "use strict";

  // --- the customer list ------------------------------------------------------------------
  const picker = document.querySelector("[data-bulk-picker]");
  if (picker) {
    const form = document.getElementById(picker.getAttribute("data-bulk-picker"));
    const boxes = () => Array.from(document.querySelectorAll("input[name=customer_id][form]"));
    const all = document.querySelector("[data-bulk-all]");
    const count = picker.querySelector("[data-bulk-count]");
    const button = picker.querySelector("button[type=submit]");
    const update = () => {
      const matching = Number(all ? all.getAttribute("data-bulk-all") : 0);
      const ticked = boxes().filter((b) => b.checked).length;
      const chosen = all && all.checked ? matching : ticked;
      count.textContent = String(chosen);
      picker.classList.toggle("is-active", chosen > 0);
      button.disabled = chosen === 0;
    };
    if (all) {
      all.addEventListener("change", () => {
        boxes().forEach((b) => {
          b.checked = all.checked;
        });
        update();
      });
    }
    document.addEventListener("change", (event) => {
      const target = event.target;
      if (target && target.name === "customer_id" && all && !target.checked) all.checked = false;
      if (target && target.name === "customer_id") update();
    });
    if (form) update();
  }

  // --- forms sent once (data-once): the send, its confirmation, the retry ------------------
  // A second click (or Enter) while the form is posted sends nothing more: its buttons are
  // disabled once it goes (the server's retry is conditional anyway; a batch is not).
  for (const once of document.querySelectorAll("form[data-once]")) {
    once.addEventListener("submit", () => {
      for (const button of once.querySelectorAll("button[type=submit]")) {
        setTimeout(() => {
          button.disabled = true; // after the submit has taken the button's own value
        }, 0);
      }
    });
  }

  // --- a batch's progress -----------------------------------------------------------------
  const card = document.querySelector("[data-bulk-progress]");
  if (!card) return;
  const url = card.getAttribute("data-bulk-progress");
  const bar = card.querySelector(".bulk-bar");
  const failures = document.querySelector("[data-failures]");
  const list = document.querySelector("[data-failure-list]");
  const retry = document.querySelector("[data-retry]");

  function show(p) {
    const total = Math.max(1, p.total);
    bar.querySelector("[data-part=done]").style.width = `${(100 * p.done) / total}%`;
    bar.querySelector("[data-part=failed]").style.width = `${(100 * p.failed) / total}%`;
    bar.setAttribute("aria-valuenow", String(p.done + p.failed));
    for (const name of ["done", "failed", "total"]) {
      card.querySelector(`[data-count=${name}]`).textContent = String(p[name]);
    }
    card.querySelector("[data-state=working]").hidden = p.finished;
    card.querySelector("[data-state=finished]").hidden = !p.finished || p.failed > 0;
    if (p.failures) {
      list.replaceChildren(
        ...p.failures.map((f) => {
          const li = document.createElement("li");
          const a = document.createElement("a");
          a.href = f.url;
          a.textContent = f.customer;
          const reason = document.createElement("span");
          reason.className = "muted";
          reason.textContent = f.reason;
          li.append(a, reason);
          return li;
        }),
      );
      failures.hidden = p.failed === 0 && !p.retry;
      retry.hidden = !p.retry;
    }
  }

  show({
    retry: card.getAttribute("data-retry") === "yes",
    total: Number(bar.getAttribute("data-total")),
    done: Number(bar.getAttribute("data-done")),
    failed: Number(bar.getAttribute("data-failed")),
    finished: card.getAttribute("data-finished") === "yes",
  });

  let wait = 1000;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then((p) => {
        show(p);
        wait = 1000;
        if (!p.finished) setTimeout(poll, wait);
      })
      .catch(() => {
        wait = Math.min(wait * 2, 15000); // a hiccup: try again, less often
        setTimeout(poll, wait);
      });
  }
  if (card.getAttribute("data-finished") !== "yes") setTimeout(poll, wait);
})();
