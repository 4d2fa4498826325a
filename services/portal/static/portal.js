// The portal's own few lines of script; the pages work without it except for the countdown and copying.
(function () {
  "use strict";

  function tick() {
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.countdown) - Date.now()) / 1000));
      var minutes = Math.floor(left / 60), seconds = left % 60;
      el.textContent = left > 0 ? minutes + ":" + String(seconds).padStart(2, "0") : "no time";
    });
  }
  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);

  document.addEventListener("click", function (event) {
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      remove.closest("tr").remove();
      document.getElementById("material-search")?.focus();
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var field = document.querySelector(copy.dataset.copy);
      var said = copy.parentElement.querySelector(".copied");
      field.select();
      (navigator.clipboard ? navigator.clipboard.writeText(field.value) : Promise.reject())
        .catch(function () { document.execCommand("copy"); })
        .finally(function () { if (said) { said.textContent = "Copied."; } });
    }
  });
})();
