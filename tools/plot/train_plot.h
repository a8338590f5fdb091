/* SPDX-License-Identifier: Apache-2.0 */
/* tools/plot/train_plot.h - deft-train's --plot: training curves as one SVG file. */
#ifndef DEFT_TOOLS_TRAIN_PLOT_H
#define DEFT_TOOLS_TRAIN_PLOT_H

#include <stdbool.h>
#include <stddef.h>

/* Writes an SVG to `path` (atomically: a temporary file renamed over it) with two panels,
 * training loss and validation accuracy per epoch, axes labelled, one coloured line per run:
 * this run (`label`, loss[i] and acc[i] for epochs 0..n-1) and each of the nextra CSV files
 * written by deft-train --csv (header naming epoch, val_acc and optionally train_loss), labelled
 * with the file's base name. Returns false with a message in err on a bad CSV or an I/O error. */
bool train_plot_write(const char *path, const char *label, const double *loss, const double *acc,
                      int n, const char *const *extra, int nextra, char *err, size_t errlen);

#endif
