/* Portal staff pages: small progressive enhancements; every page works without them. */
(function () {
  "use strict";

  // <form data-confirm="question">: ask before submitting (archive, delete a draft).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // <form data-autosubmit>: a changed <select> or checkbox applies the filter at once.
  document.addEventListener("change", function (event) {
    var field = event.target;
    var form = field.form;
    if (!form || !form.hasAttribute("data-autosubmit")) return;
    if (field.tagName === "SELECT" || field.type === "checkbox") {
      form.submit();
    }
  });

  // <button data-copy="#id" data-copied="Copied" hidden>: copies the element's text. Without
  // JS the button stays hidden and the text (user-select: all) selects with one tap.
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copied(button) {
    var label = button.querySelector("span") || button;
    var before = label.textContent;
    label.textContent = button.getAttribute("data-copied") || before;
    button.classList.add("is-copied");
    window.setTimeout(function () {
      label.textContent = before;
      button.classList.remove("is-copied");
    }, 2000);
  }

  function fallbackCopy(target, button) {
    selectText(target);
    try {
      if (document.execCommand("copy")) copied(button);
    } catch (e) { /* the text stays selected: the user copies it */ }
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var text = (target.value || target.textContent || "").trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button); },
        function () { fallbackCopy(target, button); }
      );
    } else {
      fallbackCopy(target, button);
    }
  });

  // Disable a submit button once its form is sent, so an upload (or a send) is not sent twice.
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var form = event.target;
    if (form.enctype !== "multipart/form-data" && !form.hasAttribute("data-once")) return;
    var buttons = form.querySelectorAll("button[type=submit]");
    window.setTimeout(function () {
      buttons.forEach(function (b) { b.disabled = true; b.classList.add("is-busy"); });
    }, 0);
  });
})();
