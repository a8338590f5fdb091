/* SPDX-License-Identifier: Apache-2.0 */
/* tools/explorer/dump_html.h - `deft dump --html`: the graph explorer page. */
#ifndef DEFT_TOOLS_DUMP_HTML_H
#define DEFT_TOOLS_DUMP_HTML_H

#include <stdbool.h>
#include <stdio.h>

#include "deft/deft.h"

/* Writes one self-contained HTML page (no network: the layout library elkjs, the page's script
 * and style are embedded at build time) that draws g as TensorBoard's graph dashboard does: name
 * scopes as boxes that expand and collapse on click, starting collapsed at the top level; edges
 * between boxes aggregated, labelled with tensor shapes; ops colour-coded by type; gradients/,
 * save/ and initializers recognizable and hideable; a search box; a panel with a clicked node's
 * attrs, inputs, outputs, shapes and device; variables with shapes and parameter counts (and
 * the stored dtype and shape when ckpt is not NULL). `title` names the file in the page.
 * Returns false with a message on stderr when deft was built without elkjs (see
 * tools/install-deps.sh) or when memory runs out; write errors are the caller's to check on f. */
bool deft_tool_dump_html(FILE *f, deft_graph *g, deft_checkpoint_reader *ckpt, const char *title);

#endif
