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

  // Disable a submit button once its form is sent, so an upload is not sent twice.
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var form = event.target;
    if (form.enctype !== "multipart/form-data") return;
    var buttons = form.querySelectorAll("button[type=submit]");
    window.setTimeout(function () {
      buttons.forEach(function (b) { b.disabled = true; b.classList.add("is-busy"); });
    }, 0);
  });
})();
