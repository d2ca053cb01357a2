/* specboard leaderboard: draw the plotly figures, sort tables, filter the sample browser.
   Figures are read from <script type="application/json" class="plotly-figure"> elements
   (data, not code), so the page needs no inline script. */
"use strict";

function drawFigures() {
  if (typeof Plotly === "undefined") { console.warn("plotly.js did not load"); return; }
  document.querySelectorAll("script.plotly-figure").forEach(function (el) {
    var spec = JSON.parse(el.textContent);
    var target = document.getElementById(el.dataset.target);
    if (target) { Plotly.newPlot(target, spec.data, spec.layout, spec.config); }
  });
}

function cellKey(row, index) {
  var cell = row.cells[index];
  if (!cell) { return ""; }
  return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
}

function compareKeys(a, b) {
  if (a === "" && b === "") { return 0; }
  if (a === "") { return 1; }          // missing values sort last
  if (b === "") { return -1; }
  var x = Number(a), y = Number(b);
  if (!isNaN(x) && !isNaN(y)) { return x - y; }
  return a.localeCompare(b);
}

function makeSortable(table) {
  var heads = table.tHead ? table.tHead.rows[0].cells : [];
  Array.prototype.forEach.call(heads, function (th, index) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (r1, r2) {
        var k1 = cellKey(r1, index), k2 = cellKey(r2, index);
        if (k1 === "" || k2 === "") { return compareKeys(k1, k2); }
        return ascending ? compareKeys(k1, k2) : compareKeys(k2, k1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
}

function setupFilters(box) {
  var table = document.getElementById(box.dataset.table);
  if (!table) { return; }
  var task = box.querySelector("[data-filter=task]");
  var outcome = box.querySelector("[data-filter=outcome]");
  var text = box.querySelector("[data-filter=text]");
  var counter = box.querySelector("[data-count]");
  function apply() {
    var needle = text.value.trim().toLowerCase();
    var shown = 0, rows = table.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (row) {
      var ok = (!task.value || row.dataset.task === task.value) &&
               (!outcome.value || row.dataset.outcome === outcome.value) &&
               (!needle || row.textContent.toLowerCase().indexOf(needle) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    counter.textContent = shown + " of " + rows.length + " shown";
  }
  [task, outcome].forEach(function (el) { el.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  apply();
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll(".filters[data-table]").forEach(setupFilters);
  drawFigures();
});
