/* specboard leaderboard: draw the plotly figures, sort tables (within each tbody group),
   filter the board by family and suite, page and search the runs list, and page the sample
   browser. Figures and samples are read from <script type="application/json"> elements
   (data, not code, written into the DOM with textContent), so the page needs no inline script. */
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
      Array.prototype.forEach.call(table.tBodies, function (body) {
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var k1 = cellKey(r1, index), k2 = cellKey(r2, index);
          if (k1 === "" || k2 === "") { return compareKeys(k1, k2); }
          return ascending ? compareKeys(k1, k2) : compareKeys(k2, k1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
      table.dispatchEvent(new Event("sorted"));
    });
  });
}

function setupBoard(box) {
  var table = document.getElementById(box.dataset.board);
  if (!table) { return; }
  var family = box.querySelector("[data-filter=family]");
  var suite = box.querySelector("[data-filter=suite]");
  function apply() {
    Array.prototype.forEach.call(table.tBodies, function (body) {
      body.hidden = !!family.value && body.dataset.family !== family.value;
    });
    table.querySelectorAll("[data-suite]").forEach(function (el) {
      el.hidden = !!suite.value && el.dataset.suite !== suite.value;
    });
  }
  family.addEventListener("change", apply);
  suite.addEventListener("change", apply);
  apply();
}

var PAGE = 50;

function pager(box, total, draw) {
  /* Shared paging state: draw(first, last) shows rows [first, last) of the filtered list. */
  var state = { page: 0 };
  var counter = box.querySelector("[data-count]");
  function show() {
    var n = total();
    var pages = Math.max(1, Math.ceil(n / PAGE));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    var first = state.page * PAGE, last = Math.min(n, first + PAGE);
    draw(first, last);
    counter.textContent = (n ? (first + 1) + "–" + last : "0") + " of " + n + " shown (page " +
      (state.page + 1) + " of " + pages + ")";
  }
  box.querySelector("[data-page=prev]").addEventListener("click", function () { state.page -= 1; show(); });
  box.querySelector("[data-page=next]").addEventListener("click", function () { state.page += 1; show(); });
  return { show: show, reset: function () { state.page = 0; show(); } };
}

function setupRunsPager(box) {
  var table = document.getElementById(box.dataset.pager);
  if (!table) { return; }
  var text = box.querySelector("[data-filter=text]");
  var matching = [];
  function filter() {
    var needle = text.value.trim().toLowerCase();
    matching = Array.prototype.filter.call(table.tBodies[0].rows, function (row) {
      return !needle || row.textContent.toLowerCase().indexOf(needle) !== -1;
    });
  }
  var p = pager(box, function () { return matching.length; }, function (first, last) {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) { row.hidden = true; });
    matching.slice(first, last).forEach(function (row) { row.hidden = false; });
  });
  text.addEventListener("input", function () { filter(); p.reset(); });
  table.addEventListener("sorted", function () { filter(); p.show(); });
  filter();
  p.show();
}

function setupSamples(box) {
  var table = document.getElementById(box.dataset.samples);
  var source = document.getElementById("samples-data");
  if (!table || !source) { return; }
  var all = JSON.parse(source.textContent);  /* [task, item, repeat, score, outcome, output, error] */
  var task = box.querySelector("[data-filter=task]");
  var outcome = box.querySelector("[data-filter=outcome]");
  var text = box.querySelector("[data-filter=text]");
  var body = table.tBodies[0];
  var matching = all;
  function filter() {
    var needle = text.value.trim().toLowerCase();
    matching = all.filter(function (s) {
      return (!task.value || s[0] === task.value) && (!outcome.value || s[4] === outcome.value) &&
        (!needle || (s[1] + " " + s[5] + " " + s[6]).toLowerCase().indexOf(needle) !== -1);
    });
  }
  var p = pager(box, function () { return matching.length; }, function (first, last) {
    while (body.firstChild) { body.removeChild(body.firstChild); }
    matching.slice(first, last).forEach(function (s) {
      var tr = document.createElement("tr");
      tr.dataset.task = s[0];
      tr.dataset.outcome = s[4];
      s.forEach(function (value, i) {
        var td = document.createElement("td");
        if (i === 5) { var pre = document.createElement("pre"); pre.textContent = value; td.appendChild(pre); }
        else { td.textContent = String(value); }
        if (i === 4) { td.className = "outcome-" + value; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  });
  [task, outcome].forEach(function (el) { el.addEventListener("change", function () { filter(); p.reset(); }); });
  text.addEventListener("input", function () { filter(); p.reset(); });
  p.show();
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll(".filters[data-board]").forEach(setupBoard);
  document.querySelectorAll(".filters[data-pager]").forEach(setupRunsPager);
  document.querySelectorAll(".filters[data-samples]").forEach(setupSamples);
  drawFigures();
});
