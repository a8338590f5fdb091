/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_train_cli.c - deft-train's --logdir (TensorBoard event files) and --plot (SVG
 * training curves), run on a small MNIST-layout dataset made here. The event file is decoded by
 * tests/tfevents.py (its own TFRecord reader and CRC32C, Google's protobuf); the accuracy
 * summaries are checked against the CSV, the last histograms against NumPy over the weights read
 * back from the saved checkpoint with `deft run`; the SVG is parsed with xml.etree and its
 * points mapped back to the CSV's numbers. The SVG is kept as build/artifacts/train_plot.svg for
 * the browser test. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(logdir_and_plot) {
  char work[600];
  snprintf(work, sizeof work, "%s/train", tu_tmpdir());
  mkdir(work, 0755);
  mkdir(DEFT_BINARY_DIR "/artifacts", 0755);
  const char *script =
      "import sys, os, subprocess, struct\n"
      "import xml.etree.ElementTree as ET\n"
      "import numpy as np\n"
      "sys.path.insert(0, '" DEFT_SOURCE_DIR "/tests')\n"
      "import tfevents\n"
      "work, bindir = sys.argv[1], sys.argv[2]\n"
      "event_pb2, graph_pb2, meta_graph_pb2, summary_pb2 = tfevents.protos(work)\n"
      "data = os.path.join(work, 'data'); os.makedirs(data, exist_ok=True)\n"
      "rng = np.random.default_rng(5)\n"
      "def idx(name, a):\n"
      "    with open(os.path.join(data, name), 'wb') as f:\n"
      "        if a.ndim == 3: f.write(struct.pack('>IIII', 0x803, *a.shape))\n"
      "        else: f.write(struct.pack('>II', 0x801, a.shape[0]))\n"
      "        f.write(a.astype(np.uint8).tobytes())\n"
      "lab = rng.integers(0, 10, 5300)\n"
      "img = (rng.random((5300, 28, 28)) * 120).astype(np.uint8)\n"
      "for i, l in enumerate(lab): img[i, 2 * l:2 * l + 2, :] += 40\n"
      "idx('train-images-idx3-ubyte', img); idx('train-labels-idx1-ubyte', lab)\n"
      "idx('t10k-images-idx3-ubyte', img[:50]); idx('t10k-labels-idx1-ubyte', lab[:50])\n"
      "train = os.path.join(bindir, 'deft-train')\n"
      "logdir = os.path.join(work, 'logs', 'run1')\n"
      "csv1, csv2 = os.path.join(work, 'run1.csv'), os.path.join(work, 'run2.csv')\n"
      "svg = os.path.join(bindir, 'artifacts', 'train_plot.svg')\n"
      "out = subprocess.run([train, '--data', data, '--epochs', '3', '--batch-size', '4',\n"
      "    '--csv', csv1, '--logdir', logdir, '--out', os.path.join(work, 'model')],\n"
      "    capture_output=True, text=True)\n"
      "assert out.returncode == 0, out.stderr\n"
      "out = subprocess.run([train, '--data', data, '--epochs', '4', '--batch-size', '10',\n"
      "    '--lr', '0.05', '--csv', csv2, '--plot', svg, '--plot-with', csv1],\n"
      "    capture_output=True, text=True)\n"
      "assert out.returncode == 0, out.stderr\n"
      "def rows(p):\n"
      "    lines = open(p).read().split()\n"
      "    assert lines[0] == 'epoch,val_acc,seconds,train_loss,learning_rate', lines[0]\n"
      "    return [[float(x) for x in l.split(',')] for l in lines[1:]]\n"
      "r1, r2 = rows(csv1), rows(csv2)\n"
      "assert len(r1) == 3 and len(r2) == 4\n"
      "assert all(r[4] == 0.01 for r in r1) and all(r[4] == 0.05 for r in r2), (r1, r2)\n"
      "# the epoch lines show the loss, and it is the CSV's\n"
      "ep = [l for l in out.stdout.splitlines() if l.startswith('epoch ')]\n"
      "assert len(ep) == 4 and all('  loss ' in l for l in ep), out.stdout\n"
      "for l, r in zip(ep, r2): assert abs(float(l.split('  loss ')[1].split()[0]) - r[3]) < 1e-4\n"
      "# an unwritable --out fails before training\n"
      "o2 = subprocess.run([train, '--data', data, '--epochs', '1', '--out', '/nonexistent/dir/m'],\n"
      "    capture_output=True, text=True)\n"
      "assert o2.returncode == 1 and '/nonexistent/dir' in o2.stderr, o2.stderr\n"
      "assert 'epoch ' not in o2.stdout, o2.stdout\n"
      "# ---- the event file ----\n"
      "files = os.listdir(logdir)\n"
      "assert len(files) == 1 and files[0].startswith('events.out.tfevents.'), files\n"
      "ev = tfevents.events(os.path.join(logdir, files[0]), event_pb2)\n"
      "assert ev[0].file_version == 'brain.Event:2'\n"
      "gd = graph_pb2.GraphDef(); gd.ParseFromString(ev[1].graph_def)\n"
      "nodes = {n.name: n for n in gd.node}\n"
      "assert nodes['log_loss'].op == 'ScalarSummary' and nodes['accuracy'].op == 'ScalarSummary'\n"
      "assert nodes['hidden1/kernel_1'].op == 'HistogramSummary', sorted(nodes)[:20]\n"
      "assert nodes['epoch_summaries/epoch_summaries'].op == 'MergeSummary'\n"
      "steps_per_epoch = 300 // 4\n"
      "loss = [(e.step, v.simple_value) for e in ev[2:] for v in e.summary.value\n"
      "        if v.tag == 'log_loss']\n"
      "want = [ep * steps_per_epoch + k + 1 for ep in range(3) for k in range(steps_per_epoch)\n"
      "        if k % 50 == 0 or k + 1 == steps_per_epoch]\n"
      "assert [s for s, _ in loss] == want, [s for s, _ in loss]\n"
      "assert all(np.isfinite(v) and v > 0 for _, v in loss)\n"
      "acc = [(e.step, v.simple_value) for e in ev for v in e.summary.value\n"
      "       if v.tag == 'accuracy']\n"
      "assert [s for s, _ in acc] == [(i + 1) * steps_per_epoch for i in range(3)], acc\n"
      "for (s, a), row in zip(acc, r1): assert abs(a - row[1]) < 6e-5, (a, row)\n"
      "last = [e for e in ev if any(v.tag == 'accuracy' for v in e.summary.value)][-1]\n"
      "hist = {v.tag: v.histo for v in last.summary.value if v.HasField('histo')}\n"
      "assert 'hidden1/kernel_1' in hist and 'outputs/bias_1' in hist, sorted(hist)\n"
      "assert hist['hidden1/kernel_1'].num == 784 * 300\n"
      "# the final weights, read back from the checkpoint by `deft run`\n"
      "kdir = os.path.join(work, 'k')\n"
      "model = os.path.join(work, 'model')\n"
      "out = subprocess.run([os.path.join(bindir, 'deft'), 'run', model + '.meta',\n"
      "    '--checkpoint',\n"
      "    model, '--fetch', 'hidden1/kernel', '--out', kdir], capture_output=True, text=True)\n"
      "assert out.returncode == 0, out.stderr\n"
      "k = np.load(os.path.join(kdir, 'hidden1_kernel.npy')).astype(np.float64).ravel()\n"
      "pos, v = [], 1e-12\n"
      "while v < 1e20: pos.append(v); v *= 1.1\n"
      "D = np.finfo(np.float64).max\n"
      "edges = np.array([-D] + [-p for p in reversed(pos)] + [0.0] + pos + [D])\n"
      "cnt = np.bincount(np.searchsorted(edges, k, side='right'), minlength=len(edges))\n"
      "h = hist['hidden1/kernel_1']\n"
      "nz = [(edges[i], float(c)) for i, c in enumerate(cnt) if c > 0]\n"
      "got = [(l, c) for l, c in zip(h.bucket_limit, h.bucket) if c > 0]\n"
      "assert got == nz, (len(got), len(nz))\n"
      "assert h.min == k.min() and h.max == k.max()\n"
      "assert np.isclose(h.sum, k.sum(), rtol=1e-9, atol=1e-9)\n"
      "# ---- the SVG ----\n"
      "root = ET.parse(svg).getroot()\n"
      "ns = {'s': 'http://www.w3.org/2000/svg'}\n"
      "panels = root.findall('s:g[@class=\"panel\"]', ns)\n"
      "assert [p.get('id') for p in panels] == ['loss', 'accuracy']\n"
      "for p, col in zip(panels, [3, 1]):\n"
      "    labels = [t.text for t in p.findall('s:text[@class=\"axis-label\"]', ns)]\n"
      "    assert labels[0] == 'epoch' and labels[1], labels\n"
      "    assert len(p.findall('.//s:text[@class=\"tick-y\"]', ns)) >= 3\n"
      "    area = p.find('s:g[@class=\"plot-area\"]', ns)\n"
      "    x0, x1, y0, y1 = (float(area.get(a))\n"
      "                      for a in ('data-x0', 'data-x1', 'data-y0', 'data-y1'))\n"
      "    W, H = float(area.get('data-width')), float(area.get('data-height'))\n"
      "    runs = area.findall('s:g[@class=\"run\"]', ns)\n"
      "    names = [r.get('data-label') for r in runs]\n"
      "    assert names[1] == 'run1', names\n"
      "    assert 'lr 0.05' in runs[0].get('data-label')\n"
      "    for run, rs in zip(runs, [r2, r1]):\n"
      "        line = run.find('s:polyline', ns).get('points')\n"
      "        pts = [tuple(map(float, q.split(','))) for q in line.split()]\n"
      "        assert len(pts) == len(rs), (len(pts), len(rs))\n"
      "        for (px, py), row in zip(pts, rs):\n"
      "            ex = x0 + px / W * (x1 - x0); ey = y0 + (H - py) / H * (y1 - y0)\n"
      "            assert abs(ex - row[0]) < 0.02, (ex, row)\n"
      "            assert abs(ey - row[col]) < 0.01 * (y1 - y0), (ey, row)\n"
      "# ---- errors: a log directory that is a file, a CSV without the columns ----\n"
      "bad = os.path.join(work, 'a_file'); open(bad, 'w').write('x')\n"
      "out = subprocess.run([train, '--data', data, '--epochs', '1', '--logdir', bad],\n"
      "    capture_output=True, text=True)\n"
      "assert out.returncode == 1 and bad in out.stderr, out.stderr\n"
      "assert 'not a directory' in out.stderr, out.stderr\n"
      "out = subprocess.run([train, '--data', data, '--epochs', '1', '--plot', svg + '.x',\n"
      "    '--plot-with', bad], capture_output=True, text=True)\n"
      "assert out.returncode == 1, out.stderr\n"
      "assert 'must name the columns epoch and val_acc' in out.stderr, out.stderr\n"
      "assert not os.path.exists(svg + '.x')\n";
  const char *args[] = {work, DEFT_BINARY_DIR, NULL};
  ck_assert_msg(tu_python(script, args) == 0, "the deft-train check failed (see above)");
}
END_TEST

START_TEST(option_errors) {
  ck_assert_int_eq(sh("%s/deft-train --plot-with x.csv%s > /dev/null 2>&1", DEFT_BINARY_DIR, ""),
                   2);
  ck_assert_int_eq(sh("%s/deft-train --logdir%s > /dev/null 2>&1", DEFT_BINARY_DIR, ""), 2);
  /* GNU conventions (getopt_long): --opt=value, unknown options and stray arguments refused */
  ck_assert_int_eq(sh("%s/deft-train --epochs=x%s > /dev/null 2>&1", DEFT_BINARY_DIR, ""), 2);
  ck_assert_int_eq(sh("%s/deft-train --epochz 1%s > /dev/null 2>&1", DEFT_BINARY_DIR, ""), 2);
  ck_assert_int_eq(sh("%s/deft-train --epochs=1 -- stray%s > /dev/null 2>&1", DEFT_BINARY_DIR, ""),
                   2);
  ck_assert_int_eq(sh("%s/deft-train --help%s > /dev/null 2>&1", DEFT_BINARY_DIR, ""), 0);
  /* --data=DIR is taken as the value: the missing directory is named, and the exit is 1 (a
   * run-time failure), not 2 (a usage error) */
  char out[600];
  snprintf(out, sizeof out, "%s/train_gnu.txt", tu_tmpdir());
  ck_assert_int_eq(
      sh("%s/deft-train --data=/nonexistent/deft-xyz --epochs=1 2> %s", DEFT_BINARY_DIR, out), 1);
  FILE *f = fopen(out, "r");
  ck_assert_ptr_nonnull(f);
  char buf[2048] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  ck_assert_msg(n > 0 && strstr(buf, "/nonexistent/deft-xyz"), "got: %s", buf);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("train_cli");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, logdir_and_plot);
  tcase_add_test(tc, option_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
