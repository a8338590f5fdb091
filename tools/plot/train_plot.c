/* SPDX-License-Identifier: Apache-2.0 */
/* tools/plot/train_plot.c - training curves (loss and accuracy per epoch) as a self-contained
 * SVG: two panels with labelled axes and ticks, one colour per run, a legend. The elements carry
 * classes (panel, run, tick-x, tick-y, axis-label) so tests and scripts can read the drawing. */
#include "tools/plot/train_plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct run {
  char label[256];
  int n;
  double *epoch, *loss, *acc; /* loss[i] is NAN when the CSV has no train_loss */
} run;

static void set_err(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
}

static void run_free(run *r) {
  free(r->epoch);
  free(r->loss);
  free(r->acc);
}

static bool run_alloc(run *r, int cap) {
  r->epoch = calloc((size_t)cap, sizeof(double));
  r->loss = calloc((size_t)cap, sizeof(double));
  r->acc = calloc((size_t)cap, sizeof(double));
  return r->epoch && r->loss && r->acc;
}

/* Column index of `name` in a CSV header line, or -1. */
static int column(const char *header, const char *name) {
  int col = 0;
  size_t n = strlen(name);
  for (const char *p = header;; col++) {
    const char *e = p + strcspn(p, ",\r\n");
    if ((size_t)(e - p) == n && !strncmp(p, name, n)) return col;
    if (*e != ',') return -1;
    p = e + 1;
  }
}

static bool field(const char *line, int col, double *out) {
  const char *p = line;
  for (int i = 0; i < col; i++) {
    p = strchr(p, ',');
    if (!p) return false;
    p++;
  }
  char *end;
  errno = 0;
  *out = strtod(p, &end);
  return end != p && !errno && (*end == ',' || *end == '\n' || *end == '\r' || !*end) &&
         isfinite(*out);
}

/* Reads a deft-train --csv file. */
static bool read_csv(const char *path, run *r, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    set_err(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    return false;
  }
  const char *base = strrchr(path, '/');
  snprintf(r->label, sizeof r->label, "%s", base ? base + 1 : path);
  char *dot = strrchr(r->label, '.');
  if (dot && !strcmp(dot, ".csv")) *dot = 0;
  char line[1024];
  bool ok = fgets(line, sizeof line, f) != NULL;
  int ce = ok ? column(line, "epoch") : -1, ca = ok ? column(line, "val_acc") : -1;
  int cl = ok ? column(line, "train_loss") : -1;
  if (ce < 0 || ca < 0) {
    set_err(err, errlen, "'%s': the header must name the columns epoch and val_acc", path);
    fclose(f);
    return false;
  }
  int cap = 0, lineno = 1;
  ok = true;
  while (ok && fgets(line, sizeof line, f)) {
    lineno++;
    if (line[0] == '\n' || line[0] == '\r') continue;
    if (r->n == 100000) {
      set_err(err, errlen, "'%s': more than 100000 epochs", path);
      ok = false;
      break;
    }
    if (r->n == cap) {
      int ncap = cap ? 2 * cap : 64;
      run bigger = {{0}, 0, NULL, NULL, NULL};
      if (!run_alloc(&bigger, ncap)) {
        run_free(&bigger);
        set_err(err, errlen, "out of memory reading '%s'", path);
        ok = false;
        break;
      }
      for (int i = 0; i < r->n; i++) {
        bigger.epoch[i] = r->epoch[i];
        bigger.loss[i] = r->loss[i];
        bigger.acc[i] = r->acc[i];
      }
      run_free(r);
      r->epoch = bigger.epoch;
      r->loss = bigger.loss;
      r->acc = bigger.acc;
      cap = ncap;
    }
    double e, a, l = NAN;
    if (!field(line, ce, &e) || !field(line, ca, &a) || (cl >= 0 && !field(line, cl, &l))) {
      set_err(err, errlen, "'%s' line %d: expected numbers in the epoch, val_acc%s columns",
              path, lineno, cl >= 0 ? " and train_loss" : "");
      ok = false;
      break;
    }
    r->epoch[r->n] = e;
    r->acc[r->n] = a;
    r->loss[r->n] = l;
    r->n++;
  }
  fclose(f);
  return ok;
}

/* ---- drawing ---- */

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

typedef struct axis {
  double lo, hi, step;
} axis;

/* Ticks at multiples of 1, 2 or 5 x 10^k covering [lo, hi] with about 5 intervals. */
static axis nice_axis(double lo, double hi, bool integer) {
  if (!(hi > lo)) {
    double pad = fabs(lo) > 0 ? fabs(lo) * 0.05 : 0.5;
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), step = mag;
  if (raw / mag > 5) step = 10 * mag;
  else if (raw / mag > 2) step = 5 * mag;
  else if (raw / mag > 1) step = 2 * mag;
  if (integer && step < 1) step = 1;
  axis a = {floor(lo / step) * step, ceil(hi / step) * step, step};
  return a;
}

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else if (*s == '"') fputs("&quot;", f);
    else if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, f);
  }
}

enum { W = 1000, H = 470, PW = 400, PH = 300, TOP = 50, LEFT0 = 80, LEFT1 = 580 };

/* One panel: which = 0 (loss) or 1 (accuracy). */
static void panel(FILE *f, const run *runs, int nruns, int which, int left) {
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (int r = 0; r < nruns; r++)
    for (int i = 0; i < runs[r].n; i++) {
      double y = which ? runs[r].acc[i] : runs[r].loss[i];
      if (isnan(y)) continue;
      if (runs[r].epoch[i] < xlo) xlo = runs[r].epoch[i];
      if (runs[r].epoch[i] > xhi) xhi = runs[r].epoch[i];
      if (y < ylo) ylo = y;
      if (y > yhi) yhi = y;
    }
  if (xlo > xhi) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  axis ax = nice_axis(xlo, xhi, true), ay = nice_axis(ylo, yhi, false);
  if (which && yhi <= 1 && ay.hi > 1) ay.hi = 1; /* accuracy stops at 1 */
  const char *title = which ? "validation accuracy" : "training loss";
  fprintf(f, "<g class=\"panel\" id=\"%s\" transform=\"translate(%d,%d)\">\n",
          which ? "accuracy" : "loss", left, TOP);
  fprintf(f, "<text class=\"title\" x=\"%d\" y=\"-16\" text-anchor=\"middle\" "
          "font-size=\"16\" font-weight=\"bold\">%s per epoch</text>\n", PW / 2, title);
  fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
          PW, PH);
  /* data coordinates -> pixels, written into the element so readers can invert it */
  fprintf(f, "<g class=\"plot-area\" data-x0=\"%.17g\" data-x1=\"%.17g\" data-y0=\"%.17g\" "
          "data-y1=\"%.17g\" data-width=\"%d\" data-height=\"%d\">\n",
          ax.lo, ax.hi, ay.lo, ay.hi, PW, PH);
  for (int k = 0;; k++) {
    double v = ax.lo + k * ax.step;
    if (v > ax.hi + ax.step * 1e-9) break;
    double x = (v - ax.lo) / (ax.hi - ax.lo) * PW;
    fprintf(f, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"#444\"/>"
            "<text class=\"tick-x\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">"
            "%g</text>\n", x, PH, x, PH + 5, x, PH + 19, v);
  }
  for (int k = 0;; k++) {
    double v = ay.lo + k * ay.step;
    if (v > ay.hi + ay.step * 1e-9) break;
    double y = PH - (v - ay.lo) / (ay.hi - ay.lo) * PH;
    fprintf(f, "<line x1=\"0\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#ddd\"/>"
            "<text class=\"tick-y\" x=\"-6\" y=\"%.2f\" text-anchor=\"end\" font-size=\"12\">"
            "%g</text>\n", y, PW, y, y + 4, fabs(v) < ay.step * 1e-9 ? 0.0 : v);
  }
  for (int r = 0; r < nruns; r++) {
    const char *c = colours[r % (sizeof colours / sizeof colours[0])];
    fprintf(f, "<g class=\"run\" data-label=\"");
    xml_text(f, runs[r].label);
    fprintf(f, "\" stroke=\"%s\" fill=\"%s\">\n<polyline fill=\"none\" stroke-width=\"2\" "
            "points=\"", c, c);
    for (int i = 0; i < runs[r].n; i++) {
      double y = which ? runs[r].acc[i] : runs[r].loss[i];
      if (isnan(y)) continue;
      fprintf(f, "%.2f,%.2f ", (runs[r].epoch[i] - ax.lo) / (ax.hi - ax.lo) * PW,
              PH - (y - ay.lo) / (ay.hi - ay.lo) * PH);
    }
    fprintf(f, "\"/>\n");
    if (runs[r].n <= 60)
      for (int i = 0; i < runs[r].n; i++) {
        double y = which ? runs[r].acc[i] : runs[r].loss[i];
        if (isnan(y)) continue;
        fprintf(f, "<circle r=\"3\" cx=\"%.2f\" cy=\"%.2f\"><title>epoch %g: %.4f</title>"
                "</circle>\n", (runs[r].epoch[i] - ax.lo) / (ax.hi - ax.lo) * PW,
                PH - (y - ay.lo) / (ay.hi - ay.lo) * PH, runs[r].epoch[i], y);
      }
    fprintf(f, "</g>\n");
  }
  fprintf(f, "</g>\n");
  fprintf(f, "<text class=\"axis-label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
          "font-size=\"13\">epoch</text>\n", PW / 2, PH + 38);
  fprintf(f, "<text class=\"axis-label\" transform=\"translate(-52,%d) rotate(-90)\" "
          "text-anchor=\"middle\" font-size=\"13\">%s</text>\n", PH / 2,
          which ? "accuracy (fraction correct)" : "mean cross-entropy");
  fprintf(f, "</g>\n");
}

static void draw(FILE *f, const run *runs, int nruns) {
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H + 20 * (nruns / 2),
          W, H + 20 * (nruns / 2));
  panel(f, runs, nruns, 0, LEFT0);
  panel(f, runs, nruns, 1, LEFT1);
  fprintf(f, "<g class=\"legend\" transform=\"translate(%d,%d)\">\n", LEFT0, TOP + PH + 62);
  for (int r = 0; r < nruns; r++) {
    const char *c = colours[r % (sizeof colours / sizeof colours[0])];
    int x = (r % 2) * 500, y = (r / 2) * 20;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
            "<text x=\"%d\" y=\"%d\" font-size=\"13\">", x, y, x + 24, y, c, x + 30, y + 4);
    xml_text(f, runs[r].label);
    fprintf(f, "</text>\n");
  }
  fprintf(f, "</g>\n</svg>\n");
}

bool train_plot_write(const char *path, const char *label, const double *loss, const double *acc,
                      int n, const char *const *extra, int nextra, char *err, size_t errlen) {
  run *runs = calloc((size_t)nextra + 1, sizeof *runs);
  if (!runs) {
    set_err(err, errlen, "out of memory");
    return false;
  }
  bool ok = run_alloc(&runs[0], n > 0 ? n : 1);
  if (!ok) set_err(err, errlen, "out of memory");
  if (ok) {
    snprintf(runs[0].label, sizeof runs[0].label, "%s", label);
    runs[0].n = n;
    for (int i = 0; i < n; i++) {
      runs[0].epoch[i] = i;
      runs[0].loss[i] = loss[i];
      runs[0].acc[i] = acc[i];
    }
  }
  for (int k = 0; ok && k < nextra; k++) ok = read_csv(extra[k], &runs[k + 1], err, errlen);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = ok ? fopen(tmp, "w") : NULL;
  if (ok && !f) {
    set_err(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
    ok = false;
  }
  if (f) {
    draw(f, runs, nextra + 1);
    bool wrote = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    wrote = fclose(f) == 0 && wrote;
    if (!wrote || rename(tmp, path) != 0) {
      set_err(err, errlen, "cannot write '%s': %s", path, strerror(errno));
      unlink(tmp);
      ok = false;
    }
  }
  for (int k = 0; k <= nextra; k++) run_free(&runs[k]);
  free(runs);
  return ok;
}
