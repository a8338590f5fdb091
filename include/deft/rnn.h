/* SPDX-License-Identifier: Apache-2.0 */
/* deft/rnn.h - recurrent cells (TF 1.x's tf.nn.rnn_cell), tf.nn.static_rnn and dynamic_rnn.
 *
 * A cell is a small object that knows its sizes and builds one time step of ops each time it is
 * called. Its variables are created by its first call, in the variable scope current at that
 * moment, with TF's names ("rnn/basic_rnn_cell/kernel", "rnn/multi_rnn_cell/cell_0/
 * basic_lstm_cell/kernel", ...), so a TF checkpoint restores into a deft-built graph and the
 * reverse; later calls reuse them and re-enter the cell's name scope, as TF's layers do, so their
 * ops are "<scope>/MatMul_1", ... Cells are built on the ordinary op constructors, so gradients
 * flow through them like through any op.
 *
 * State: a cell's state is a flat list of tensors (deft_rnn_cell_state_count of them), in TF's
 * nest.flatten order: BasicRNNCell and GRUCell (h); BasicLSTMCell and LSTMCell (c, h) - h is m,
 * the projected output, for an LSTMCell with num_proj; MultiRNNCell the states of its cells in
 * order. Every state tensor is [batch, deft_rnn_cell_state_size(cell, i)].
 *
 * Errors: builders report through the graph's sticky error (deft/graph.h); constructors that
 * fail return NULL. Thread safety: as for graph building (one building thread per graph at a
 * time). A cell belongs to one graph; it is not shared across threads. */
#ifndef DEFT_RNN_H
#define DEFT_RNN_H

#include "deft/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct deft_rnn_cell deft_rnn_cell;

/* tf.nn.rnn_cell.BasicRNNCell(num_units, activation): h' = act([x, h] @ kernel + bias), variables
 * "basic_rnn_cell/kernel" [input + units, units] (Glorot uniform) and "basic_rnn_cell/bias"
 * (zeros). activation as deft_activation names them; NULL means "tanh". name NULL means
 * "basic_rnn_cell" (made unique in the variable scope of the first call). */
DEFT_API deft_rnn_cell *deft_rnn_cell_basic(deft_graph *g, int64_t num_units,
                                            const char *activation, const char *name);

/* tf.nn.rnn_cell.BasicLSTMCell(num_units, forget_bias, activation), state (c, h): i, j, f, o =
 * split([x, h] @ kernel + bias, 4); c' = c * sigmoid(f + forget_bias) + sigmoid(i) * act(j);
 * h' = act(c') * sigmoid(o). Variables "basic_lstm_cell/kernel" [input + units, 4 units] and
 * "basic_lstm_cell/bias". TF's default forget_bias is 1.0; activation NULL means "tanh". */
DEFT_API deft_rnn_cell *deft_rnn_cell_basic_lstm(deft_graph *g, int64_t num_units,
                                                 float forget_bias, const char *activation,
                                                 const char *name);

/* Options of tf.nn.rnn_cell.LSTMCell. Get TF's defaults from deft_lstm_options_default() and
 * change what you need; the struct may grow, so never fill one from scratch. */
typedef struct deft_lstm_options {
  bool use_peepholes;    /* diagonal peepholes "w_f_diag", "w_i_diag", "w_o_diag" [units] */
  float cell_clip;       /* > 0: c is clipped to [-cell_clip, cell_clip]; 0: none */
  int64_t num_proj;      /* > 0: h is projected by "projection/kernel" [units, num_proj] */
  float proj_clip;       /* > 0 (with num_proj): the projection is clipped; 0: none */
  float forget_bias;     /* TF's default 1.0 */
  const char *activation; /* NULL: "tanh" */
  deft_initializer initializer; /* kernel, peepholes and projection; DEFAULT: Glorot uniform */
} deft_lstm_options;

/* TF's defaults: no peepholes, no clipping, no projection, forget_bias 1.0, tanh. */
DEFT_API deft_lstm_options deft_lstm_options_default(void);

/* tf.nn.rnn_cell.LSTMCell: as BasicLSTMCell plus the options' peepholes, clipping and
 * projection; variables "lstm_cell/kernel" [input + (num_proj or units), 4 units] and
 * "lstm_cell/bias", plus the peepholes and "lstm_cell/projection/kernel" when asked for.
 * opts NULL means deft_lstm_options_default(). */
DEFT_API deft_rnn_cell *deft_rnn_cell_lstm(deft_graph *g, int64_t num_units,
                                           const deft_lstm_options *opts, const char *name);

/* tf.nn.rnn_cell.GRUCell(num_units, activation): r, u = split(sigmoid([x, h] @ gates/kernel +
 * gates/bias), 2); c = act([x, r * h] @ candidate/kernel + candidate/bias); h' = u * h +
 * (1 - u) * c. Variables under "gru_cell/gates/" (bias initialized to ones) and
 * "gru_cell/candidate/" (bias zeros). activation NULL means "tanh". */
DEFT_API deft_rnn_cell *deft_rnn_cell_gru(deft_graph *g, int64_t num_units,
                                          const char *activation, const char *name);

/* tf.nn.rnn_cell.MultiRNNCell(cells): the cells stacked, cell i under "multi_rnn_cell/cell_<i>/".
 * Takes ownership of cells[0..n) (also on failure, when it frees them). n >= 1. */
DEFT_API deft_rnn_cell *deft_rnn_cell_multi(deft_graph *g, deft_rnn_cell *const *cells, int n);

/* tf.nn.rnn_cell.DropoutWrapper(cell, input_keep_prob, output_keep_prob, state_keep_prob, seed):
 * TF1's dropout (x / keep * floor(keep + uniform)) on the cell's input, output and new state,
 * each with its keep probability: a float scalar tensor (typically a placeholder with default
 * 1.0), or an invalid output ({NULL, 0}) for no dropout there. Adds no variables. Takes
 * ownership of cell. */
DEFT_API deft_rnn_cell *deft_rnn_cell_dropout(deft_graph *g, deft_rnn_cell *cell,
                                              deft_output input_keep_prob,
                                              deft_output output_keep_prob,
                                              deft_output state_keep_prob, int64_t seed);

/* tf.contrib.rnn.OutputProjectionWrapper(cell, output_size, activation): the cell's output
 * projected by "output_projection_wrapper/kernel" [cell output, output_size] and ".../bias"; the
 * wrapped cell's variables are under "output_projection_wrapper/" too. activation NULL means
 * none. Takes ownership of cell. */
DEFT_API deft_rnn_cell *deft_rnn_cell_output_projection(deft_graph *g, deft_rnn_cell *cell,
                                                        int64_t output_size,
                                                        const char *activation);

/* Frees a cell and the cells it wraps (the graph's ops and variables stay). NULL is a no-op. */
DEFT_API void deft_rnn_cell_free(deft_rnn_cell *cell);

/* The width of the cell's output. */
DEFT_API int64_t deft_rnn_cell_output_size(const deft_rnn_cell *cell);
/* How many tensors the cell's state has, and the width of state tensor i (0 if out of range). */
DEFT_API int deft_rnn_cell_state_count(const deft_rnn_cell *cell);
DEFT_API int64_t deft_rnn_cell_state_size(const deft_rnn_cell *cell, int i);

/* cell.zero_state(batch_size, dtype): writes deft_rnn_cell_state_count(cell) zero tensors of
 * shape [batch_size, state_size(i)] to state, built (as TF builds them) under name scope
 * "<CellType>ZeroState". batch_size is an int32 scalar tensor. Returns false on failure. */
DEFT_API bool deft_rnn_cell_zero_state(deft_rnn_cell *cell, deft_output batch_size,
                                       deft_dtype dtype, deft_output *state);

/* cell(input, state): builds one step. input is [batch, input size] with a known input size,
 * which must be the same at every call; state has deft_rnn_cell_state_count(cell) tensors.
 * Writes the step's output and new state. Returns false (sticky error) on failure, e.g. an input
 * width that differs from the first call's, naming the cell. */
DEFT_API bool deft_rnn_cell_call(deft_rnn_cell *cell, deft_output input, const deft_output *state,
                                 deft_output *output, deft_output *new_state);

/* tf.nn.static_rnn(cell, inputs, initial_state, sequence_length, scope): runs the cell over
 * inputs[0..steps) ([batch, input size] each) inside variable scope `scope` (NULL: "rnn").
 * initial_state NULL means the cell's zero state for the first input's batch size. With a valid
 * sequence_length (an int32 [batch] tensor), a row's outputs past its length are zeros and its
 * state stops changing there, as TF's _rnn_step does. Writes outputs[0..steps) and the final
 * state (deft_rnn_cell_state_count tensors; final_state may be NULL). Returns false (sticky
 * error) on failure. */
DEFT_API bool deft_static_rnn(deft_graph *g, deft_rnn_cell *cell, const deft_output *inputs,
                              int steps, const deft_output *initial_state,
                              deft_output sequence_length, const char *scope,
                              deft_output *outputs, deft_output *final_state);

/* tf.nn.dynamic_rnn(cell, inputs, sequence_length, initial_state, time_major, scope): the cell
 * run by a TF1 while loop over the time steps, built as TF builds it: in variable scope `scope`
 * (NULL: "rnn"), inputs transposed to time-major ("rnn/transpose") unless time_major, unstacked
 * into a TensorArray ("rnn/TensorArray_1"), the loop "rnn/while" (loop variables time, the
 * output TensorArray's flow and the state; the cell's ops "rnn/while/basic_rnn_cell/MatMul",
 * ...), the outputs stacked ("rnn/TensorArrayStack/...") and transposed back. The variables are
 * the cell's, named as with deft_static_rnn ("rnn/basic_rnn_cell/kernel"), so the same
 * checkpoint restores into either. inputs: [batch, time, input] ([time, batch, input] when
 * time_major), with a known input size; the time and batch sizes may be unknown until run time.
 * initial_state NULL means zeros; sequence_length (int32 [batch], or invalid) as in
 * deft_static_rnn. Writes the outputs ([batch, time, output], or time-major) and the final
 * state (deft_rnn_cell_state_count tensors; may be NULL). Differentiable (deft_gradients builds
 * TF's gradient loop). Returns false (sticky error) on failure. */
DEFT_API bool deft_dynamic_rnn(deft_graph *g, deft_rnn_cell *cell, deft_output inputs,
                               const deft_output *initial_state, deft_output sequence_length,
                               bool time_major, const char *scope, deft_output *outputs,
                               deft_output *final_state);

/* tf.nn.bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length, time_major,
 * scope), named as TF 1.x names it (scope NULL: "bidirectional_rnn"): cell_fw's variables in
 * variable scope "<scope>/fw" ("<scope>/fw/basic_rnn_cell/kernel") and its ops under name scope
 * "<scope>/fw/fw" ("<scope>/fw/fw/while/...", as TF's dynamic_rnn re-entering the "fw" scope
 * object makes them); cell_bw likewise under "<scope>/bw" and "<scope>/bw/bw", run on the inputs
 * reversed in time: "<scope>/bw/ReverseSequence" with a valid sequence_length, else
 * "<scope>/bw/ReverseV2" (the whole time axis). The backward outputs are reversed back in the
 * caller's name scope, outside <scope>, as TF does ("ReverseSequence" or "ReverseV2", made
 * unique). Writes each direction's outputs and final state (any pointer may be NULL). The two
 * cells must be distinct. Returns false (sticky error) on failure. */
DEFT_API bool deft_bidirectional_dynamic_rnn(deft_graph *g, deft_rnn_cell *cell_fw,
                                             deft_rnn_cell *cell_bw, deft_output inputs,
                                             deft_output sequence_length, bool time_major,
                                             const char *scope, deft_output *outputs_fw,
                                             deft_output *outputs_bw, deft_output *state_fw,
                                             deft_output *state_bw);

#ifdef __cplusplus
}
#endif

#endif
