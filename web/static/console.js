// Steward console: progressive enhancements only; every form works without this file.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="#id"> copies the value or text of #id.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (!el || !navigator.clipboard) return;
    ev.preventDefault();
    navigator.clipboard.writeText(el.value || el.textContent).then(function () {
      btn.textContent = "Copied";
    });
  });
  // Confirmations: <form data-confirm="…"> asks before sending.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
})();
