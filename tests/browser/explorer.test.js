// SPDX-License-Identifier: Apache-2.0
// tests/browser/explorer.test.js - the graph explorer page (`deft dump --html`) and the training
// plot (`deft-train --plot`) in a real browser: Debian's headless Chromium driven by
// playwright-core (no browser download). Run by ctest as `node --test`; needs DEFT_BINARY_DIR.
// Screenshots go to $DEFT_BINARY_DIR/artifacts/. Outside CI a missing browser or
// ../shared skips; with CI=true it fails.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const SRC = path.resolve(__dirname, '..', '..');
const BIN = process.env.DEFT_BINARY_DIR || path.join(SRC, 'build');
const SHARED = path.resolve(SRC, '..', 'shared', 'tf1');
const ART = path.join(BIN, 'artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CI = process.env.CI === 'true';
fs.mkdirSync(ART, { recursive: true });

let pw = null;
try {
  pw = require(path.join(SRC, 'tools', 'explorer', 'node_modules', 'playwright-core'));
} catch (e) {
  pw = null;
}
const missing = !pw ? 'playwright-core (tools/install-deps.sh runs npm ci in tools/explorer)'
  : !fs.existsSync(CHROMIUM) ? CHROMIUM + ' (apt-get install chromium)'
  : !fs.existsSync(SHARED) ? SHARED : null;

function need(t) {
  if (!missing) return true;
  if (CI) assert.fail('missing ' + missing);
  t.skip('missing ' + missing);
  return false;
}

/* Writes `deft dump --html FILE` to DIR/<name>.html and returns its path. */
function page(name, file, extra) {
  const out = path.join(ART, name + '.html');
  const html = execFileSync(path.join(BIN, 'deft'), ['dump', '--html', file].concat(extra || []),
    { maxBuffer: 1 << 28 });
  fs.writeFileSync(out, html);
  return out;
}

let browser = null;
async function open(file) {
  if (!browser) browser = await pw.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const p = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('request', (r) => { if (!r.url().startsWith('file:')) errors.push('network request: ' + r.url()); });
  await p.goto('file://' + file);
  await layouts(p, 1);
  return { p, errors };
}
async function layouts(p, n) {
  await p.waitForFunction((k) => +(document.body.getAttribute('data-layouts') || 0) >= k, n,
    { timeout: 120000 });
}
async function count(p) { return +(await p.getAttribute('body', 'data-layouts')); }
async function click(p, id) {
  const n = await count(p);
  // bring it into view as a user would scroll, then click a scope by its header (an expanded
  // scope's middle is one of its children)
  await p.evaluate((x) => window.deftExplorer.centerOn(x), id);
  await p.click(id.startsWith('g:') ? `[data-id="${id}"] > text` : `[data-id="${id}"]`);
  return n;
}
async function expand(p, id) {
  const n = await click(p, id);
  await layouts(p, n + 1);
}
async function ids(p) {
  return p.$$eval('[data-id]', (els) => els.map((e) => e.getAttribute('data-id')));
}

test.after(async () => { if (browser) await browser.close(); });

const HAERFEST = path.join(SHARED, 'haerfest__handson-ml', 'my_model_final.ckpt');
const TAOBAI = path.join(SHARED, 'tao-bai__Hands-on-Machine-Learning', 'my_model_final.ckpt');
const KK = path.join(SHARED, 'KKeishiro__hands-on-machine-learning', '186368e3', 'my_model_final.ckpt');

test('the 166-node graph: scopes, shapes, search, checkpoint', async (t) => {
  if (!need(t)) return;
  const { p, errors } = await open(page('haerfest', HAERFEST + '.meta', ['--checkpoint', HAERFEST]));
  // collapsed at the top level
  let v = await ids(p);
  for (const id of ['g:dnn', 'g:train', 'g:eval', 'g:loss', 'g:save', 'n:X', 'n:y']) assert.ok(v.includes(id), id);
  assert.ok(!v.includes('g:dnn/hidden1'));
  assert.match(await p.textContent('#stats'), /166 ops, 32 op types, 6 variables, 266,610 parameters/);
  await p.screenshot({ path: path.join(ART, 'explorer_haerfest_top.png') });
  // expanding dnn shows hidden1, hidden2, outputs
  await expand(p, 'g:dnn');
  v = await ids(p);
  for (const id of ['g:dnn/hidden1', 'g:dnn/hidden2', 'g:dnn/outputs']) assert.ok(v.includes(id), id);
  assert.match(await p.textContent('#info'), /dnn.*ops47.*parameters266,610/s);
  // edges between scopes carry shapes
  const labels = await p.$$eval('.edge text', (els) => els.map((e) => e.textContent));
  assert.ok(labels.includes('[?,300]') && labels.includes('[?,100]'), labels.join(' | '));
  // clicking a MatMul shows its shapes
  await expand(p, 'g:dnn/hidden1');
  const n = await count(p);
  await p.evaluate(() => window.deftExplorer.centerOn('n:dnn/hidden1/MatMul'));
  await p.click('[data-id="n:dnn/hidden1/MatMul"]');
  const info = await p.textContent('#info');
  assert.match(info, /dnn\/hidden1\/MatMul/);
  assert.match(info, /typeMatMul/);
  assert.match(info, /X\s+float \[\?,784\]/);
  assert.match(info, /dnn\/hidden1\/weights\/read\s+float \[784,300\]/);
  assert.match(info, /float \[\?,300\]/);
  assert.match(info, /transpose_a/);
  assert.equal(await count(p), n); // selecting an op does not re-lay out
  await p.screenshot({ path: path.join(ART, 'explorer_haerfest_matmul.png') });
  // a variable: shape, parameter count, the checkpoint's dtype and shape
  // a variable is drawn inside the scope of its Assign and read ops
  assert.ok(!(await ids(p)).includes('n:dnn/hidden1/weights'));
  await expand(p, 'g:dnn/hidden1/weights');
  assert.ok((await ids(p)).includes('n:dnn/hidden1/weights/read'));
  await p.evaluate(() => window.deftExplorer.centerOn('n:dnn/hidden1/weights'));
  await p.click('[data-id="n:dnn/hidden1/weights"]');
  const vinfo = await p.textContent('#info');
  assert.match(vinfo, /shape\[784,300\]/);
  assert.match(vinfo, /parameters235,200/);
  assert.match(vinfo, /checkpointfloat \[784,300\] \(235,200 values\)/);
  // search finds eval/Mean and reveals it
  await p.fill('#search', 'eval/Mea');
  await p.waitForSelector('#results li[data-name="eval/Mean"]');
  const before = await count(p);
  await p.press('#search', 'Enter');
  await layouts(p, before + 1);
  assert.match(await p.textContent('#info h2'), /^eval\/Mean$/);
  assert.ok(await p.$('[data-id="n:eval/Mean"].selected'));
  await p.screenshot({ path: path.join(ART, 'explorer_haerfest_search.png') });
  // collapsing again
  await expand(p, 'g:dnn');
  v = await ids(p);
  assert.ok(!v.includes('g:dnn/hidden1'));
  assert.deepEqual(errors, []);
});

test('the 790-node batch-norm graph and the 310-node one', async (t) => {
  if (!need(t)) return;
  {
    const { p, errors } = await open(page('taobai', TAOBAI + '.meta'));
    assert.match(await p.textContent('#stats'), /790 ops, 50 op types/);
    await expand(p, 'g:dnn');
    const v = await ids(p);
    for (const id of ['g:dnn/hidden1', 'g:dnn/hidden2', 'g:dnn/outputs']) assert.ok(v.includes(id), id);
    await p.fill('#search', 'eval/Mean');
    await p.waitForSelector('#results li[data-name="eval/Mean"]');
    const before = await count(p);
    await p.click('#results li[data-name="eval/Mean"]');
    await layouts(p, before + 1);
    assert.match(await p.textContent('#info h2'), /^eval\/Mean$/);
    await p.screenshot({ path: path.join(ART, 'explorer_taobai.png') });
    assert.deepEqual(errors, []);
  }
  {
    const { p, errors } = await open(page('kkeishiro', KK + '.meta'));
    let v = await ids(p);
    assert.ok(v.includes('g:gradients') && v.includes('g:save'), v.join(' '));
    // gradients/ and save/ are recognizable and hideable
    assert.ok(await p.$('[data-id="g:gradients"].cat-gradients'));
    assert.ok(await p.$('[data-id="g:save"].cat-save'));
    let n = await count(p);
    await p.uncheck('#show-gradients');
    await layouts(p, n + 1);
    n = await count(p);
    await p.uncheck('#show-save');
    await layouts(p, n + 1);
    v = await ids(p);
    assert.ok(!v.includes('g:gradients') && !v.includes('g:save'), v.join(' '));
    assert.ok(v.includes('g:dnn'));
    await p.screenshot({ path: path.join(ART, 'explorer_kkeishiro_hidden.png') });
    assert.deepEqual(errors, []);
  }
});

test('a 6,000-op graph stays small on screen', async (t) => {
  if (!need(t)) return;
  // A GraphDef written by Google's protobuf, shaped like a deep net: 40 blocks of 10 layers of
  // 15 ops (a weight, a bias and a chain of Adds), plus 80 Consts at the top level.
  const work = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'deft-big-'));
  const pb = path.join(work, 'big.pb');
  execFileSync('/usr/bin/python3', ['-c', `
import sys; sys.path.insert(0, ${JSON.stringify(path.join(SRC, 'tests'))})
import tfevents
ev, graph_pb2, mg, sm = tfevents.protos(sys.argv[1])
g = graph_pb2.GraphDef()
def op(name, typ, inputs=()):
    n = g.node.add(); n.name = name; n.op = typ; n.input.extend(inputs)
    if typ == 'Const':
        n.attr['dtype'].type = 1
        t = n.attr['value'].tensor; t.dtype = 1; t.float_val.append(1.0)
    else:
        n.attr['T'].type = 1
    return name
for i in range(80): op('c%d' % i, 'Const')
op('x', 'Const')
prev = 'x'
for b in range(40):
    for l in range(10):
        s = 'block%d/layer%d/' % (b, l)
        w = op(s + 'w', 'Const'); bias = op(s + 'b', 'Const')
        for k in range(13):
            prev = op(s + 'add_%d' % k, 'Add', [prev, w if k % 2 else bias])
open(sys.argv[2], 'wb').write(g.SerializeToString())
`, work, pb]);
  const { p, errors } = await open(page('big', pb));
  assert.match(await p.textContent('#stats'), /6,081 ops/);
  let v = await ids(p);
  assert.ok(v.length < 50, 'boxes on screen: ' + v.length);
  assert.ok(v.includes('g:block0') && v.includes('g:block39'));
  assert.ok(v.includes('s:#Const'), 'the 81 top-level Consts form one series box');
  await expand(p, 'g:block7');
  v = await ids(p);
  assert.ok(v.includes('g:block7/layer3'));
  await expand(p, 'g:block7/layer3');
  v = await ids(p);
  assert.ok(v.includes('n:block7/layer3/add_12'));
  assert.ok(v.length < 80, 'boxes on screen: ' + v.length);
  await expand(p, 's:#Const');
  v = await ids(p);
  assert.ok(v.includes('n:c17') && !v.includes('s:#Const'));
  await p.screenshot({ path: path.join(ART, 'explorer_big.png') });
  assert.deepEqual(errors, []);
  fs.rmSync(work, { recursive: true, force: true });
});

test('the training plot renders', async (t) => {
  if (!need(t)) return;
  const svg = path.join(ART, 'train_plot.svg'); // written by test_train_cli
  assert.ok(fs.existsSync(svg), svg + ' (run test_train_cli first)');
  if (!browser) browser = await pw.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const p = await browser.newPage({ viewport: { width: 1000, height: 520 } });
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  await p.goto('file://' + svg);
  const box = await p.$eval('svg', (s) => { const r = s.getBoundingClientRect(); return [r.width, r.height]; });
  assert.ok(box[0] >= 900 && box[1] >= 400, box.join('x'));
  assert.equal(await p.$$eval('polyline', (l) => l.length), 4);
  const labels = await p.$$eval('text.axis-label', (l) => l.map((e) => e.textContent));
  assert.deepEqual(labels, ['epoch', 'mean cross-entropy', 'epoch', 'accuracy (fraction correct)']);
  // the two runs' lines are drawn inside their panels, in different colours
  const strokes = await p.$$eval('g.run', (g) => g.map((e) => getComputedStyle(e).stroke));
  assert.equal(new Set(strokes).size, 2);
  await p.screenshot({ path: path.join(ART, 'train_plot.png') });
  assert.deepEqual(errors, []);
});

test('deft dump --html: usage errors and hostile names', async (t) => {
  const deft = path.join(BIN, 'deft');
  const run = (args) => require('node:child_process').spawnSync(deft, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  let r = run(['dump', '--html', '--json', 'x.pb']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--html cannot be combined/);
  r = run(['dump', '--html', '/nonexistent.meta']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nonexistent/);
  // names that could break out of the page's JSON or script
  const work = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'deft-html-'));
  const pb = path.join(work, 'odd.pbtxt');
  fs.writeFileSync(pb, 'node { name: "a</script><b>" op: "Placeholder" attr { key: "dtype" ' +
    'value { type: DT_FLOAT } } attr { key: "note" value { s: "\\"</script>\\u2028&" } } }\n' +
    'node { name: "s\\\\q/\\"x" op: "Identity" input: "a</script><b>" ' +
    'attr { key: "T" value { type: DT_FLOAT } } }\n');
  r = run(['dump', '--html', pb]);
  assert.equal(r.status, 0, r.stderr);
  const body = r.stdout.split('<script id="graph-data" type="application/json">')[1].split('</script>')[0];
  const j = JSON.parse(body);
  assert.deepEqual(j.nodes.map((n) => n.n), ['a</script><b>', 's\\q/"x']);
  assert.deepEqual(j.nodes[1].i, ['a</script><b>:0']);
  if (need(t)) {
    const file = path.join(ART, 'odd.html');
    fs.writeFileSync(file, r.stdout);
    const { p, errors } = await open(file);
    await p.fill('#search', 'script');
    await p.press('#search', 'Enter');
    await layouts(p, 2);
    assert.equal(await p.textContent('#info h2'), 'a</script><b>');
    assert.deepEqual(errors, []);
  }
  fs.rmSync(work, { recursive: true, force: true });
});
