// The live events page: rows arrive over server-sent events from /live/stream, the newest on top,
// each shown once (by its event id), filtered by type in place.
(function () {
  "use strict";
  var table = document.getElementById("live-events");
  if (!table) { return; }
  var rows = table.querySelector("tbody");
  var state = document.getElementById("live-state");
  var problem = document.getElementById("live-problem");
  var count = document.getElementById("live-count");
  var filter = document.getElementById("event-type");
  var lastId = null, wait = 1000;  // the id of the last event (or of where the stream started)

  function applyFilter() {
    var all = rows.children, shown = 0;
    for (var i = 0; i < all.length; i++) {
      all[i].hidden = Boolean(filter.value) && all[i].dataset.type !== filter.value;
      if (!all[i].hidden) { shown += 1; }
    }
    count.textContent = all.length === 0 ? "No events yet." :
      filter.value ? shown + " of " + all.length + " events are of this type." : all.length + " events.";
  }
  filter.addEventListener("change", applyFilter);

  function connect() {
    // The browser's own reconnection sends Last-Event-ID; a new connection (once the browser gave
    // up) says where the page was with ?after=.
    var source = new EventSource(table.dataset.stream + (lastId !== null ? "?after=" + lastId : ""));
    source.addEventListener("ready", function (event) {  // where the stream starts, before any event
      lastId = Math.max(lastId, Number(event.lastEventId));
      state.textContent = "Live: new events appear as they happen.";
      problem.replaceChildren();
      wait = 1000;
    });
    source.addEventListener("approval-event", function (event) {
      lastId = Math.max(lastId, Number(event.lastEventId));
      if (document.getElementById("event-" + event.lastEventId)) { return; }  // shown already
      rows.insertAdjacentHTML("afterbegin", event.data);
      applyFilter();
    });
    source.addEventListener("problem", function (event) { problem.innerHTML = event.data; });
    source.addEventListener("stopped", function () {
      source.close();
      state.textContent = "Stopped. Reload the page to follow the events again.";
    });
    source.addEventListener("error", function () {
      state.textContent = "Connection lost: reconnecting. Events in the meantime will follow.";
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, wait);
        wait = Math.min(wait * 2, 30000);
      }
    });
  }
  connect();
})();
