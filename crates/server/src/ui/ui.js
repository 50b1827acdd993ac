// nines web UI: progressive enhancement only; every page works without this file.
(function () {
  "use strict";
  // Ask before a destructive form (marked data-confirm="question") is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // Filter forms (marked data-autosubmit) apply as soon as a select changes.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.tagName === "SELECT" && el.form && el.form.hasAttribute("data-autosubmit")) {
      el.form.submit();
    }
  });
})();
