/* deft/train.h - training: reverse-mode autodiff (gradient ops added to the graph), layers,
 * initializers, optimizers and losses. Builders follow deft/graph.h's conventions: failures are
 * the graph's sticky error. */
#ifndef DEFT_TRAIN_H
#define DEFT_TRAIN_H

#include "deft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tf.gradients: adds ops computing d(sum of ys)/d(xs[i]) and stores them in dx[i]. grad_ys (may
 * be NULL) gives the incoming gradient of each y (default: ones). New ops go under name scope
 * "gradients" (then "gradients_1", ...), each op's under "gradients/<op>_grad", with TF's op types.
 * Only the ops between ys and xs are differentiated. An x that the ys do not depend on (or only
 * through StopGradient or ops without gradients) gets an invalid dx[i] (dx[i].op == NULL): that
 * is not an error. Fails (sticky error, returns false) when a y is not floating point, or the path
 * crosses an op whose gradient is explicitly disabled (the message names the op). */
DEFT_API bool deft_gradients(deft_graph *g, const deft_output *ys, int ny, const deft_output *xs,
                             int nx, const deft_output *grad_ys, deft_output *dx);

#ifdef __cplusplus
}
#endif
#endif
