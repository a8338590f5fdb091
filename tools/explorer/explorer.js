// SPDX-License-Identifier: Apache-2.0
/* tools/explorer/explorer.js - the graph explorer page that `deft dump --html` writes.
 *
 * The graph (one JSON object per op: name, type, device, inputs, control inputs, outputs with
 * dtype and shape, attrs, variable facts) is folded into a tree of name scopes. Only what is
 * visible is laid out: a collapsed scope is one box, an expanded one a compound box around its
 * children, so a graph of many thousands of ops stays quick and readable; edges between boxes
 * are aggregated and labelled with the tensor shapes they carry. Layout is elkjs's layered
 * algorithm with compound nodes (ELK's INCLUDE_CHILDREN hierarchy handling). A level with very
 * many ops of one type folds them into a series box ("Const x 120"), as TensorBoard does. */
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var SERIES_MIN = 8;       /* ops of one type at a level folded into a series box... */
  var SERIES_LEVEL = 60;    /* ...when the level has more than this many ops */

  var data = JSON.parse(document.getElementById('graph-data').textContent);
  var nodes = data.nodes;
  var byName = new Map();
  nodes.forEach(function (n, i) { n.idx = i; byName.set(n.n, n); });

  /* ---- page skeleton ---- */
  document.body.innerHTML =
    '<div id="bar"><h1 id="title"></h1><span id="stats"></span>' +
    '<span id="searchbox"><input id="search" type="search" placeholder="search ops (name or type)"' +
    ' autocomplete="off"><ul id="results"></ul></span>' +
    '<label><input type="checkbox" id="show-gradients" checked> gradients/</label>' +
    '<label><input type="checkbox" id="show-save" checked> save/</label>' +
    '<label><input type="checkbox" id="show-init" checked> initializers</label>' +
    '<span id="status"></span></div>' +
    '<div id="canvas"><svg id="svg"><g id="viewport"></g></svg></div>' +
    '<div id="side"><div id="info"></div><div id="legend"></div></div>';
  var $ = function (id) { return document.getElementById(id); };
  $('title').textContent = data.title;
  document.title = data.title + ' - deft graph explorer';

  /* ---- categories: gradients/, save/, initializers ---- */
  function baseCategory(n) {
    var parts = n.n.split('/');
    for (var k = 0; k < parts.length; k++) {
      if (/^gradients(_\d+)?$/.test(parts[k])) return 'gradients';
      if (/^save(_\d+)?$/.test(parts[k])) return 'save';
      if (parts[k] === 'Initializer') return 'init';
    }
    if (/^init(_\d+)?$/.test(n.n) && n.t === 'NoOp') return 'init';
    if (/^Assign/.test(n.t) && n.i.length && /\/Assign(_\d+)?$/.test(n.n)) {
      var v = byName.get(srcName(n.i[0]));
      if (v && v.v && n.n.indexOf(v.n + '/') === 0) return 'init';
    }
    return '';
  }
  function srcName(input) {
    var s = input.charAt(0) === '^' ? input.slice(1) : input;
    var c = s.lastIndexOf(':');
    return c > 0 && /^\d+$/.test(s.slice(c + 1)) ? s.slice(0, c) : s;
  }
  function srcIndex(input) {
    var c = input.lastIndexOf(':');
    return c > 0 && /^\d+$/.test(input.slice(c + 1)) ? +input.slice(c + 1) : 0;
  }
  var consumers = nodes.map(function () { return []; });
  nodes.forEach(function (n) {
    n.i.concat(n.c).forEach(function (inp) {
      var s = byName.get(srcName(inp));
      if (s) consumers[s.idx].push(n.idx);
    });
  });
  nodes.forEach(function (n) { n.cat = baseCategory(n); });
  /* An op whose every consumer is an initializer (the truncated_normal feeding an Assign) is one. */
  for (var changed = true, rounds = 0; changed && rounds < 50; rounds++) {
    changed = false;
    nodes.forEach(function (n) {
      if (n.cat || n.v || !consumers[n.idx].length) return;
      if (consumers[n.idx].every(function (c) { return nodes[c].cat === 'init'; })) {
        n.cat = 'init';
        changed = true;
      }
    });
  }
  var show = { gradients: true, save: true, init: true };
  function hidden(n) { return n.cat !== '' && !show[n.cat]; }

  /* ---- the scope tree ---- */
  function Group(path, parent) {
    this.path = path; this.parent = parent; this.groups = []; this.ops = []; this.total = 0;
    this.name = path.slice(path.lastIndexOf('/') + 1);
  }
  var root = new Group('', null);
  var groups = new Map([['', root]]);
  function group(path) {
    var g = groups.get(path);
    if (g) return g;
    var slash = path.lastIndexOf('/');
    var parent = group(slash < 0 ? '' : path.slice(0, slash));
    g = new Group(path, parent);
    parent.groups.push(g);
    groups.set(path, g);
    return g;
  }
  nodes.forEach(function (n) {
    var slash = n.n.lastIndexOf('/');
    if (slash >= 0) group(n.n.slice(0, slash));
  });
  /* An op whose name is also a scope (a variable and its "<name>/Assign", "<name>/read") is
   * drawn inside that scope, as TensorBoard does. */
  nodes.forEach(function (n) {
    var slash = n.n.lastIndexOf('/');
    var g = groups.get(n.n) || groups.get(slash < 0 ? '' : n.n.slice(0, slash));
    g.ops.push(n);
    n.group = g;
    for (var p = g; p; p = p.parent) p.total++;
  });
  /* A scope's category: the one all its ops share, if any. */
  groups.forEach(function (g) {
    var cats = new Set();
    (function walk(x) { x.ops.forEach(function (n) { cats.add(n.cat); }); x.groups.forEach(walk); })(g);
    g.cat = cats.size === 1 ? cats.values().next().value : '';
  });
  var expanded = new Set(['']);
  var expandedSeries = new Set();

  function visibleCount(g) {
    var c = 0;
    g.ops.forEach(function (n) { if (!hidden(n)) c++; });
    g.groups.forEach(function (x) { c += visibleCount(x); });
    return c;
  }

  /* The series boxes of a level: type -> ops, for types with many ops at a crowded level. */
  function seriesOf(g, ops) {
    var out = new Map();
    if (ops.length <= SERIES_LEVEL) return out;
    var byType = new Map();
    ops.forEach(function (n) {
      if (!byType.has(n.t)) byType.set(n.t, []);
      byType.get(n.t).push(n);
    });
    byType.forEach(function (list, t) { if (list.length >= SERIES_MIN) out.set(t, list); });
    return out;
  }
  var seriesKey = function (g, t) { return g.path + '#' + t; }; /* '#' is never in a TF name */

  /* ---- colours by op type ---- */
  var fixed = { VariableV2: '#f6c453', Variable: '#f6c453', VarHandleOp: '#f6c453',
    Const: '#d9d9d9', Placeholder: '#9bd27e', PlaceholderWithDefault: '#9bd27e',
    MatMul: '#7fa7f0', Conv2D: '#7fa7f0', Identity: '#e6e6e6', NoOp: '#f0f0f0' };
  function colour(t) {
    if (fixed[t]) return fixed[t];
    var h = 0;
    for (var i = 0; i < t.length; i++) h = (h * 31 + t.charCodeAt(i)) >>> 0;
    return 'hsl(' + (h % 360) + ',62%,' + (72 + (h >> 9) % 12) + '%)';
  }

  /* ---- the visible graph ---- */
  var textW = function (s, px) { return Math.ceil(s.length * px * 0.6) + 16; };
  var vis = null; /* id -> {kind: 'op'|'group'|'series', ...} */

  /* The visible box an op is drawn in: itself, or its outermost collapsed scope or series. */
  function rep(n) {
    var chain = [];
    for (var g = n.group; g && g !== root; g = g.parent) chain.unshift(g);
    for (var k = 0; k < chain.length; k++)
      if (!expanded.has(chain[k].path)) return 'g:' + chain[k].path;
    var s = n.group.seriesType && n.group.seriesType.get(n.idx);
    if (s && !expandedSeries.has(seriesKey(n.group, s))) return 's:' + seriesKey(n.group, s);
    return 'n:' + n.n;
  }

  function buildElk() {
    vis = new Map();
    function level(g) {
      var children = [];
      g.groups.forEach(function (x) {
        var c = visibleCount(x);
        if (!c) return;
        var id = 'g:' + x.path;
        if (expanded.has(x.path)) {
          vis.set(id, { kind: 'group', g: x, open: true, count: c });
          children.push({ id: id, labels: [{ text: x.name, width: textW(x.name, 12), height: 16 }],
            layoutOptions: { 'elk.padding': '[top=30,left=12,bottom=12,right=12]',
              'elk.nodeLabels.placement': '[H_LEFT, V_TOP, INSIDE]' },
            children: level(x) });
        } else {
          var label = x.name + '  (' + c + ')';
          vis.set(id, { kind: 'group', g: x, open: false, count: c });
          children.push({ id: id, width: Math.max(90, textW(label, 12) + 14), height: 34 });
        }
      });
      var ops = g.ops.filter(function (n) { return !hidden(n); });
      var series = seriesOf(g, ops);
      g.seriesType = new Map();
      series.forEach(function (list, t) {
        list.forEach(function (n) { g.seriesType.set(n.idx, t); });
        var key = seriesKey(g, t);
        if (expandedSeries.has(key)) return;
        var id = 's:' + key, label = t + ' \u00d7 ' + list.length;
        vis.set(id, { kind: 'series', g: g, type: t, ops: list });
        children.push({ id: id, width: textW(label, 11) + 10, height: 30 });
      });
      ops.forEach(function (n) {
        var t = g.seriesType.get(n.idx);
        if (t && !expandedSeries.has(seriesKey(g, t))) return;
        var id = 'n:' + n.n, label = n.n.slice(n.n.lastIndexOf('/') + 1);
        vis.set(id, { kind: 'op', n: n });
        children.push({ id: id, width: Math.max(56, textW(label, 11)), height: 26 });
      });
      return children;
    }
    var children = level(root);
    /* aggregated edges between visible boxes */
    var agg = new Map();
    nodes.forEach(function (n) {
      if (hidden(n)) return;
      var d = null;
      function add(inp, control) {
        var s = byName.get(srcName(inp));
        if (!s || hidden(s)) return;
        d = d || rep(n);
        var r = rep(s);
        if (r === d) return;
        var key = r + '\u0001' + d, e = agg.get(key);
        if (!e) agg.set(key, e = { src: r, dst: d, shapes: new Map(), data: 0, control: 0, ref: false });
        if (control) { e.control++; return; }
        e.data++;
        var o = s.o[srcIndex(inp)];
        var sh = o && o[1] !== '<unknown>' ? o[1] : '?';
        e.shapes.set(sh, (e.shapes.get(sh) || 0) + 1);
        if (s.v) e.ref = true;
      }
      n.i.forEach(function (inp) { add(inp, false); });
      n.c.forEach(function (inp) { add(inp, true); });
    });
    var edges = [];
    var k = 0;
    agg.forEach(function (e) {
      var label = '';
      if (e.data) {
        label = e.shapes.size === 1 ? e.shapes.keys().next().value : e.data + ' tensors';
        if (e.shapes.size === 1 && e.data > 1) label += ' \u00d7' + e.data;
      }
      e.id = 'e' + (k++);
      e.label = label;
      var edge = { id: e.id, sources: [e.src], targets: [e.dst] };
      if (label) edge.labels = [{ text: label, width: textW(label, 10) - 8, height: 12 }];
      edges.push(edge);
    });
    return {
      graph: { id: 'root', children: children, edges: edges, layoutOptions: {
        'elk.algorithm': 'layered', 'elk.direction': 'UP',
        'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
        'elk.json.shapeCoords': 'ROOT', 'elk.json.edgeCoords': 'ROOT',
        'elk.layered.spacing.nodeNodeBetweenLayers': '28', 'elk.spacing.nodeNode': '18',
        'elk.spacing.edgeLabel': '2', 'elk.edgeLabels.placement': 'CENTER',
        'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
        'elk.edgeRouting': 'POLYLINE' } },
      edges: agg };
  }

  /* ---- drawing ---- */
  var elk = new ELK();
  var svg = $('svg'), viewport = $('viewport');
  var view = { x: 0, y: 0, k: 1 };
  var selected = null, found = null, layouts = 0, pending = null, busy = false;
  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function applyView() {
    viewport.setAttribute('transform', 'translate(' + view.x + ',' + view.y + ') scale(' + view.k + ')');
  }
  var boxes = new Map(); /* id -> {x, y, width, height} in root coordinates */

  function draw(laid, agg) {
    while (viewport.firstChild) viewport.removeChild(viewport.firstChild);
    boxes = new Map();
    var gLayer = el('g', {}, viewport), eLayer = el('g', {}, viewport), nLayer = el('g', {}, viewport);
    (function walk(list) {
      (list || []).forEach(function (c) {
        boxes.set(c.id, c);
        var v = vis.get(c.id);
        if (!v) return;
        if (v.kind === 'group') {
          var cls = 'group' + (v.open ? ' open' : ' collapsed') + (v.g.cat ? ' cat-' + v.g.cat : '');
          var g = el('g', { 'class': cls, 'data-id': c.id }, v.open ? gLayer : nLayer);
          el('rect', { x: c.x, y: c.y, width: c.width, height: c.height, rx: 6, ry: 6 }, g);
          var t = el('text', { x: c.x + 8, y: c.y + (v.open ? 18 : 21) }, g);
          t.textContent = (v.open ? '\u2212 ' : '+ ') + v.g.name;
          var cnt = el('tspan', { 'class': 'count' }, t);
          cnt.textContent = '  (' + v.count + ')';
          var title = el('title', {}, g);
          title.textContent = v.g.path + ': ' + v.count + ' ops; click to ' + (v.open ? 'collapse' : 'expand');
        } else if (v.kind === 'series') {
          var gs = el('g', { 'class': 'op series', 'data-id': c.id }, nLayer);
          el('rect', { x: c.x + 4, y: c.y - 3, width: c.width, height: c.height, rx: 5,
            fill: colour(v.type) }, gs);
          el('rect', { x: c.x, y: c.y, width: c.width, height: c.height, rx: 5, fill: colour(v.type) }, gs);
          var ts = el('text', { x: c.x + c.width / 2, y: c.y + 19, 'text-anchor': 'middle' }, gs);
          ts.textContent = v.type + ' \u00d7 ' + v.ops.length;
        } else {
          var n = v.n;
          var go = el('g', { 'class': 'op' + (n.cat ? ' cat-' + n.cat : ''), 'data-id': c.id,
            'data-type': n.t }, nLayer);
          el('rect', { x: c.x, y: c.y, width: c.width, height: c.height, rx: n.v ? 2 : 12,
            fill: colour(n.t) }, go);
          var to = el('text', { x: c.x + c.width / 2, y: c.y + 17, 'text-anchor': 'middle' }, go);
          to.textContent = n.n.slice(n.n.lastIndexOf('/') + 1);
          var tt = el('title', {}, go);
          tt.textContent = n.n + ' (' + n.t + ')';
        }
        if (c.children) walk(c.children);
      });
    })(laid.children);
    (laid.edges || []).forEach(function (e) {
      var a = null;
      agg.forEach(function (x) { if (x.id === e.id) a = x; });
      var cls = 'edge' + (a && !a.data ? ' control' : '') + (a && a.ref ? ' ref' : '') +
        (a && a.data > 1 ? ' many' : '');
      var g = el('g', { 'class': cls, 'data-src': a ? a.src : '', 'data-dst': a ? a.dst : '' }, eLayer);
      (e.sections || []).forEach(function (s) {
        var pts = [s.startPoint].concat(s.bendPoints || [], [s.endPoint]);
        var d = 'M' + pts.map(function (p) { return p.x.toFixed(1) + ',' + p.y.toFixed(1); }).join('L');
        el('path', { d: d, 'marker-end': 'url(#arrow)' }, g);
      });
      (e.labels || []).forEach(function (l) {
        var t = el('text', { x: l.x, y: l.y + 10 }, g);
        t.textContent = l.text;
      });
    });
    var defs = el('defs', {}, viewport);
    var m = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7,
      markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0L10,5L0,10z', fill: '#8a94a3' }, m);
    markSelection();
  }

  function fit(box) {
    var r = svg.getBoundingClientRect();
    var w = Math.max(r.width, 100), h = Math.max(r.height, 100);
    var k = Math.min(w / (box.width + 40), h / (box.height + 40), 1.6);
    view.k = k;
    view.x = (w - box.width * k) / 2 - box.x * k;
    view.y = (h - box.height * k) / 2 - box.y * k;
    applyView();
  }
  function centerOn(id) {
    var b = boxes.get(id);
    if (!b) return;
    var r = svg.getBoundingClientRect();
    var k = Math.min(Math.max(view.k, 0.6), r.width / (b.width + 60), r.height / (b.height + 60), 1.6);
    view.k = Math.max(k, 0.05);
    view.x = r.width / 2 - (b.x + b.width / 2) * view.k;
    view.y = r.height / 2 - (b.y + b.height / 2) * view.k;
    applyView();
  }

  /* Lays out and draws the visible graph; `then` runs after (focus: id to centre on). */
  function relayout(focus) {
    if (busy) { pending = focus === undefined ? null : focus; return; }
    busy = true;
    var t0 = Date.now();
    $('status').textContent = 'laying out\u2026';
    var built = buildElk();
    elk.layout(built.graph).then(function (laid) {
      draw(laid, built.edges);
      if (focus && boxes.has(focus)) centerOn(focus);
      else fit({ x: 0, y: 0, width: laid.width || 100, height: laid.height || 100 });
      layouts++;
      document.body.setAttribute('data-layouts', String(layouts));
      $('status').textContent = vis.size + ' boxes, ' + built.edges.size + ' edges (' +
        (Date.now() - t0) + ' ms)';
    }, function (err) {
      $('status').textContent = 'layout failed: ' + err;
      throw err;
    }).then(function () {
      busy = false;
      if (pending !== null) { var f = pending; pending = null; relayout(f); }
    });
  }

  /* ---- the side panel ---- */
  function h(tag, text, parent, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }
  function row(table, k, v, cls) {
    var tr = h('tr', null, table);
    h('td', k, tr, 'k');
    var td = h('td', null, tr, cls);
    if (v instanceof Node) td.appendChild(v); else td.textContent = v;
    return tr;
  }
  function link(name) {
    var a = document.createElement('a');
    a.textContent = name;
    a.addEventListener('click', function () { reveal(name); });
    return a;
  }
  function fmtInt(x) { return String(x).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function params(g) {
    var p = 0, known = true;
    (function walk(x) {
      x.ops.forEach(function (n) { if (n.v) { if (n.v.p >= 0) p += n.v.p; else known = false; } });
      x.groups.forEach(walk);
    })(g);
    return (known ? '' : '\u2265 ') + fmtInt(p);
  }
  function showOp(n) {
    var info = $('info');
    info.innerHTML = '';
    h('h2', n.n, info);
    var t = h('table', null, info);
    row(t, 'type', n.t + (n.u ? ' (deft has no kernel)' : ''));
    row(t, 'device', n.d || '(none)');
    if (n.cat) row(t, 'category', { gradients: 'gradients', save: 'saver', init: 'initializer' }[n.cat]);
    if (n.v) {
      h('h3', 'variable', info);
      var tv = h('table', null, info);
      row(tv, 'shape', n.v.s, 'shape');
      row(tv, 'parameters', n.v.p >= 0 ? fmtInt(n.v.p) : 'unknown');
      row(tv, 'trainable', n.v.tr ? 'yes' : 'no');
      if (data.checkpoint) row(tv, 'checkpoint', n.v.ck === null || n.v.ck === undefined ?
        'missing' : n.v.ck + ' (' + fmtInt(n.v.cp) + ' values)', 'shape');
    }
    h('h3', 'inputs (' + (n.i.length + n.c.length) + ')', info);
    var ti = h('table', null, info);
    n.i.forEach(function (inp, k) {
      var s = byName.get(srcName(inp));
      var o = s && s.o[srcIndex(inp)];
      var td = document.createElement('span');
      td.appendChild(link(srcName(inp)));
      if (srcIndex(inp)) h('span', ':' + srcIndex(inp), td);
      if (o) h('span', '  ' + o[0] + ' ' + o[1], td, 'shape');
      row(ti, String(k), td);
    });
    n.c.forEach(function (inp) {
      var sp = document.createElement('span');
      sp.appendChild(link(srcName(inp)));
      row(ti, 'ctrl', sp);
    });
    h('h3', 'outputs (' + n.o.length + ')', info);
    var to = h('table', null, info);
    n.o.forEach(function (o, k) {
      var users = consumers[n.idx].filter(function (c) {
        return nodes[c].i.some(function (inp) { return srcName(inp) === n.n && srcIndex(inp) === k; });
      }).length;
      row(to, String(k), o[0] + ' ' + o[1] + '  \u2192 ' + users + ' consumer' + (users === 1 ? '' : 's'), 'shape');
    });
    var ctrlUsers = consumers[n.idx].filter(function (c) { return nodes[c].c.indexOf(n.n) >= 0; }).length;
    if (ctrlUsers) row(to, 'ctrl', ctrlUsers + ' control consumer' + (ctrlUsers === 1 ? '' : 's'));
    h('h3', 'attrs (' + n.a.length + ')', info);
    var ta = h('table', null, info);
    n.a.forEach(function (a) {
      var pre = document.createElement('pre');
      pre.textContent = a[1];
      row(ta, a[0], pre);
    });
  }
  function showGroup(v) {
    var info = $('info');
    info.innerHTML = '';
    var g = v.g;
    h('h2', v.kind === 'series' ? g.path + (g.path ? '/' : '') + '[' + v.type + ' \u00d7 ' + v.ops.length + ']' : g.path, info);
    var t = h('table', null, info);
    if (v.kind === 'series') {
      row(t, 'series', v.ops.length + ' ' + v.type + ' ops at this level');
      h('p', 'Click the box to unfold the series.', info, 'hint');
      return;
    }
    row(t, 'ops', fmtInt(g.total) + (v.count !== g.total ? ' (' + v.count + ' shown)' : ''));
    row(t, 'parameters', params(g));
    if (g.cat) row(t, 'category', { gradients: 'gradients', save: 'saver', init: 'initializers' }[g.cat]);
    var types = new Map();
    (function walk(x) { x.ops.forEach(function (n) { types.set(n.t, (types.get(n.t) || 0) + 1); }); x.groups.forEach(walk); })(g);
    var list = Array.from(types).sort(function (a, b) { return b[1] - a[1]; }).slice(0, 12);
    h('h3', 'op types', info);
    var tt = h('table', null, info);
    list.forEach(function (p) { row(tt, String(p[1]), p[0]); });
    h('p', 'Click the box to ' + (v.open ? 'collapse' : 'expand') + ' it.', info, 'hint');
  }
  function markSelection() {
    Array.prototype.forEach.call(viewport.querySelectorAll('.selected,.found'), function (e) {
      e.classList.remove('selected'); e.classList.remove('found');
    });
    Array.prototype.forEach.call(viewport.querySelectorAll('.edge.hl'), function (e) { e.classList.remove('hl'); });
    if (!selected) return;
    var e = viewport.querySelector('[data-id="' + CSS.escape(selected) + '"]');
    if (e) e.classList.add('selected');
    Array.prototype.forEach.call(viewport.querySelectorAll('.edge'), function (x) {
      if (x.getAttribute('data-src') === selected || x.getAttribute('data-dst') === selected) x.classList.add('hl');
    });
  }

  /* ---- interaction ---- */
  function activate(id) {
    var v = vis.get(id);
    if (!v) return;
    selected = id;
    if (v.kind === 'op') {
      showOp(v.n);
      markSelection();
      return;
    }
    if (v.kind === 'series') {
      expandedSeries.add(seriesKey(v.g, v.type));
      showGroup(v);
      relayout(id);
      return;
    }
    if (v.open) expanded.delete(v.g.path); else expanded.add(v.g.path);
    v.open = !v.open;
    showGroup(v);
    relayout(id);
  }
  /* Expands the scopes above op `name`, selects it and centres on it. */
  function reveal(name) {
    var n = byName.get(name);
    if (!n) return;
    if (hidden(n)) { show[n.cat] = true; $('show-' + n.cat).checked = true; }
    for (var g = n.group; g && g !== root; g = g.parent) expanded.add(g.path);
    var t = n.group.seriesType && n.group.seriesType.get(n.idx);
    if (t) expandedSeries.add(seriesKey(n.group, t));
    selected = 'n:' + n.n;
    showOp(n);
    relayout(selected);
  }
  var drag = null, moved = false;
  svg.addEventListener('mousedown', function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y };
    moved = false;
    $('canvas').classList.add('dragging');
  });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
    view.x = drag.vx + dx;
    view.y = drag.vy + dy;
    applyView();
  });
  window.addEventListener('mouseup', function () { drag = null; $('canvas').classList.remove('dragging'); });
  svg.addEventListener('click', function (ev) {
    if (moved) return;
    var t = ev.target.closest('[data-id]');
    if (t) activate(t.getAttribute('data-id'));
  });
  svg.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect();
    var px = ev.clientX - r.left, py = ev.clientY - r.top;
    var k = Math.min(Math.max(view.k * Math.exp(-ev.deltaY * 0.0015), 0.02), 8);
    view.x = px - (px - view.x) * k / view.k;
    view.y = py - (py - view.y) * k / view.k;
    view.k = k;
    applyView();
  }, { passive: false });
  ['gradients', 'save', 'init'].forEach(function (c) {
    $('show-' + c).addEventListener('change', function (ev) {
      show[c] = ev.target.checked;
      relayout(selected);
    });
  });

  /* search: substring of the name (or exact op type), case-insensitive */
  var search = $('search'), results = $('results');
  function runSearch() {
    var q = search.value.trim().toLowerCase();
    results.innerHTML = '';
    if (!q) { results.classList.remove('open'); return; }
    var hits = nodes.filter(function (n) { return n.n.toLowerCase().indexOf(q) >= 0 || n.t.toLowerCase() === q; });
    hits.sort(function (a, b) {
      var ea = a.n.toLowerCase() === q ? 0 : 1, eb = b.n.toLowerCase() === q ? 0 : 1;
      return ea - eb || a.n.length - b.n.length || (a.n < b.n ? -1 : 1);
    });
    hits.slice(0, 50).forEach(function (n) {
      var li = h('li', null, results);
      li.setAttribute('data-name', n.n);
      h('span', n.n, li);
      h('span', n.t, li, 'type');
      li.addEventListener('mousedown', function (ev) { ev.preventDefault(); pick(n.n); });
    });
    if (hits.length > 50) h('li', '\u2026 ' + (hits.length - 50) + ' more', results, 'more');
    if (!hits.length) h('li', 'no op matches', results, 'more');
    results.classList.add('open');
  }
  function pick(name) {
    results.classList.remove('open');
    search.value = name;
    reveal(name);
  }
  search.addEventListener('input', runSearch);
  search.addEventListener('focus', runSearch);
  search.addEventListener('blur', function () { results.classList.remove('open'); });
  search.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') {
      var first = results.querySelector('li[data-name]');
      if (first) pick(first.getAttribute('data-name'));
    } else if (ev.key === 'Escape') {
      results.classList.remove('open');
    }
  });

  /* ---- header, legend, first layout ---- */
  var types = new Map();
  nodes.forEach(function (n) { types.set(n.t, (types.get(n.t) || 0) + 1); });
  var nvars = nodes.filter(function (n) { return n.v; }).length;
  $('stats').textContent = fmtInt(nodes.length) + ' ops, ' + types.size + ' op types, ' + nvars +
    ' variables, ' + params(root) + ' parameters';
  var legend = $('legend');
  h('h3', 'op types', legend).style.cssText = 'font-size:12px;margin:0 0 4px;color:#666;text-transform:uppercase';
  Array.from(types).sort(function (a, b) { return b[1] - a[1]; }).slice(0, 24).forEach(function (p) {
    var s = h('span', null, legend);
    var i = h('i', null, s);
    i.style.background = colour(p[0]);
    s.appendChild(document.createTextNode(p[0] + ' ' + p[1]));
  });
  h('p', 'Click a scope to expand or collapse it, an op for its details. Drag to pan, wheel to zoom.',
    $('info'), 'hint');
  window.deftExplorer = { reveal: reveal, activate: activate, centerOn: centerOn };
  relayout(null);
})();
