/**
 * The browser side of the charts, served as /assets/charts.js: it reads 90 days of successful
 * backups from /api/runs and draws two uPlot charts (size, duration), one series per database,
 * one point per run. Plain ES2017 in a string: nothing to bundle, nothing fetched from outside.
 */
export const CHARTS_SCRIPT = `'use strict';
(function () {
  var root = document.getElementById('charts');
  if (!root || typeof uPlot === 'undefined') return;
  var days = Number(root.getAttribute('data-days')) || 90;
  var since = new Date(Date.now() - days * 86400000).toISOString();
  var palette = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
  var fields = 'runId,source,database,startedAt,size,durationMs';
  fetch('/api/runs?kind=backup&outcome=ok&limit=20000&fields=' + fields + '&since=' + encodeURIComponent(since), { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) throw new Error('/api/runs answered ' + r.status); return r.json(); })
    .then(function (body) { draw(body.runs); })
    .catch(function (e) { root.insertAdjacentHTML('beforeend', '<p class="failing"></p>'); root.lastChild.textContent = 'Charts unavailable: ' + e.message; });

  function draw(runs) {
    // One x per run: the earliest start among its databases, so that all series share the axis.
    var runX = {}, keys = {}, x;
    runs.forEach(function (e) {
      var t = Date.parse(e.startedAt) / 1000;
      if (!(e.runId in runX) || t < runX[e.runId]) runX[e.runId] = t;
      keys[e.source + '/' + e.database] = true;
    });
    var xs = Object.keys(runX).map(function (k) { return runX[k]; }).sort(function (a, b) { return a - b; });
    xs = xs.filter(function (v, i) { return i === 0 || v !== xs[i - 1]; });
    var index = {}; xs.forEach(function (v, i) { index[v] = i; });
    var names = Object.keys(keys).sort();
    var size = names.map(function () { return xs.map(function () { return null; }); });
    var duration = names.map(function () { return xs.map(function () { return null; }); });
    runs.forEach(function (e) {
      var s = names.indexOf(e.source + '/' + e.database), i = index[runX[e.runId]];
      if (e.size != null) size[s][i] = e.size / 1048576;
      duration[s][i] = e.durationMs / 1000;
    });
    chart('chart-size', 'Backup size (MiB, compressed)', names, xs, size);
    chart('chart-duration', 'Backup duration (s)', names, xs, duration);
  }

  function chart(id, title, names, xs, series) {
    var el = document.getElementById(id);
    var width = Math.max(280, Math.min(root.clientWidth || 800, 1200));
    var opts = {
      title: title,
      width: width,
      height: width < 500 ? 220 : 300,
      scales: { x: { time: true } },
      series: [{}].concat(names.map(function (n, i) {
        return { label: n, stroke: palette[i % palette.length], width: 1.5, spanGaps: true, points: { show: false } };
      })),
      axes: [{}, { size: 60 }],
    };
    new uPlot(opts, [xs].concat(series), el);
  }
})();
`
