/* SPDX-License-Identifier: Apache-2.0 */
/* tensorflow/c/c_api.h - TensorFlow's C API, implemented by deft (libtensorflow-deft).
 *
 * Written for deft from the API's documented facts: the same function names, types, enum
 * values, struct layouts and ownership rules as libtensorflow's c_api.h, so programs written
 * against it compile and link unchanged. It is not TensorFlow's header.
 *
 * Conventions (TensorFlow's):
 * - Objects are opaque handles made by TF_New* and freed by TF_Delete*. TF_Operation and
 *   TF_Output values are owned by their graph and live until TF_DeleteGraph.
 * - A function that can fail takes a TF_Status* last; it is set to TF_OK on success, and on
 *   failure to one of TensorFlow's codes with a message naming the node, attr or input.
 * - Tensors passed in are borrowed for the call; tensors returned are owned by the caller.
 * - Calls deft does not implement exist and fail with TF_UNIMPLEMENTED and a message naming
 *   the function.
 * - Thread safety: a graph or session may be used by one thread at a time (deft does not lock
 *   them as TensorFlow does).
 */
#ifndef TENSORFLOW_C_C_API_H_
#define TENSORFLOW_C_C_API_H_

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/c/tf_datatype.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"
#include "tensorflow/c/tf_tstring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ---- */

/* The version of the TensorFlow C API deft implements, e.g. "2.13.0-deft" (static storage). */
TF_CAPI_EXPORT extern const char* TF_Version(void);

/* ---- buffers ---- */

/* A byte buffer: serialized protocol buffers in and out of the API. data_deallocator (may be
 * NULL) is called with (data, length) by TF_DeleteBuffer. */
typedef struct TF_Buffer {
  const void* data;
  size_t length;
  void (*data_deallocator)(void* data, size_t length);
} TF_Buffer;

/* Returns a copy of proto[0..proto_len) in a new buffer (freed by TF_DeleteBuffer). */
TF_CAPI_EXPORT extern TF_Buffer* TF_NewBufferFromString(const void* proto, size_t proto_len);
/* Returns a new empty buffer. */
TF_CAPI_EXPORT extern TF_Buffer* TF_NewBuffer(void);
/* Calls the deallocator (if any) and frees buffer. Accepts NULL. */
TF_CAPI_EXPORT extern void TF_DeleteBuffer(TF_Buffer* buffer);
/* Returns a copy of *buffer's fields. */
TF_CAPI_EXPORT extern TF_Buffer TF_GetBuffer(TF_Buffer* buffer);

/* ---- the older string encoding (TF 1.x TF_STRING tensors): a varint64 length then bytes ---- */

/* Encodes src[0..src_len) into dst[0..dst_len); returns the bytes written, or 0 with
 * INVALID_ARGUMENT when dst is too small. */
TF_CAPI_EXPORT extern size_t TF_StringEncode(const char* src, size_t src_len, char* dst,
                                             size_t dst_len, TF_Status* status);
/* Decodes src[0..src_len): *dst points into src, *dst_len gets the string's length. Returns the
 * bytes consumed, or 0 with INVALID_ARGUMENT for a truncated or malformed encoding. */
TF_CAPI_EXPORT extern size_t TF_StringDecode(const char* src, size_t src_len, const char** dst,
                                             size_t* dst_len, TF_Status* status);
/* The encoded size of a string of len bytes. */
TF_CAPI_EXPORT extern size_t TF_StringEncodedSize(size_t len);

/* ---- session options ---- */

typedef struct TF_SessionOptions TF_SessionOptions;

TF_CAPI_EXPORT extern TF_SessionOptions* TF_NewSessionOptions(void);
/* Sets the target ("" or "local" run in process; anything else is kept and makes
 * TF_NewSession fail with TF_UNIMPLEMENTED). */
TF_CAPI_EXPORT extern void TF_SetTarget(TF_SessionOptions* options, const char* target);
/* Parses a serialized ConfigProto. deft uses intra_op_parallelism_threads (the session's
 * thread count; 0 keeps deft's default of 1) and reads inter_op_parallelism_threads,
 * device_count and the rest only to check the bytes; malformed bytes are INVALID_ARGUMENT. */
TF_CAPI_EXPORT extern void TF_SetConfig(TF_SessionOptions* options, const void* proto,
                                        size_t proto_len, TF_Status* status);
TF_CAPI_EXPORT extern void TF_DeleteSessionOptions(TF_SessionOptions* options);

/* ---- graphs, operations, tensors of a graph ---- */

typedef struct TF_Graph TF_Graph;
typedef struct TF_OperationDescription TF_OperationDescription;
typedef struct TF_Operation TF_Operation;

/* An input of an operation: (oper, index). */
typedef struct TF_Input {
  TF_Operation* oper;
  int index;
} TF_Input;

/* An output of an operation: (oper, index). */
typedef struct TF_Output {
  TF_Operation* oper;
  int index;
} TF_Output;

/* TF_Function and its options: not implemented by deft (every function taking them fails with
 * TF_UNIMPLEMENTED). */
typedef struct TF_Function TF_Function;
typedef struct TF_FunctionOptions TF_FunctionOptions;

/* Returns a new empty graph. */
TF_CAPI_EXPORT extern TF_Graph* TF_NewGraph(void);
/* Frees g and its operations, as TF does: once no session uses it (deleting g while sessions
 * remain defers the free to the last TF_DeleteSession; they keep working until then). Accepts
 * NULL. */
TF_CAPI_EXPORT extern void TF_DeleteGraph(TF_Graph* g);

/* Refines output's build-time shape with dims[0..num_dims) (num_dims -1 = unknown rank, a dim
 * of -1 unknown): TF_GraphGetTensorShape then reports every dim either knows. Operations
 * already built on output keep the shapes they computed. INVALID_ARGUMENT if incompatible. */
TF_CAPI_EXPORT extern void TF_GraphSetTensorShape(TF_Graph* graph, TF_Output output,
                                                  const int64_t* dims, const int num_dims,
                                                  TF_Status* status);
/* The rank of output's shape, -1 if unknown. */
TF_CAPI_EXPORT extern int TF_GraphGetTensorNumDims(TF_Graph* graph, TF_Output output,
                                                   TF_Status* status);
/* Stores output's dims (-1 for unknown) in dims[0..num_dims); num_dims must equal the rank
 * (INVALID_ARGUMENT otherwise). */
TF_CAPI_EXPORT extern void TF_GraphGetTensorShape(TF_Graph* graph, TF_Output output,
                                                  int64_t* dims, int num_dims, TF_Status* status);

/* Starts an operation of op_type named oper_name (an exact name: no scopes, no uniquifying).
 * Finish it with TF_FinishOperation, which frees the description. */
TF_CAPI_EXPORT extern TF_OperationDescription* TF_NewOperation(TF_Graph* graph,
                                                               const char* op_type,
                                                               const char* oper_name);
TF_CAPI_EXPORT extern void TF_SetDevice(TF_OperationDescription* desc, const char* device);
/* Adds one input (for an argument that is a single tensor). */
TF_CAPI_EXPORT extern void TF_AddInput(TF_OperationDescription* desc, TF_Output input);
/* Adds a list input (an N * T or list(type) argument). */
TF_CAPI_EXPORT extern void TF_AddInputList(TF_OperationDescription* desc,
                                           const TF_Output* inputs, int num_inputs);
TF_CAPI_EXPORT extern void TF_AddControlInput(TF_OperationDescription* desc, TF_Operation* input);
/* Records colocation as TF does (the "_class" attr "loc:@<op>"). */
TF_CAPI_EXPORT extern void TF_ColocateWith(TF_OperationDescription* desc, TF_Operation* op);

/* Attr setters: values are copied. Errors (unknown attr, wrong kind) surface at
 * TF_FinishOperation. */
TF_CAPI_EXPORT extern void TF_SetAttrString(TF_OperationDescription* desc, const char* attr_name,
                                            const void* value, size_t length);
TF_CAPI_EXPORT extern void TF_SetAttrStringList(TF_OperationDescription* desc,
                                                const char* attr_name, const void* const* values,
                                                const size_t* lengths, int num_values);
TF_CAPI_EXPORT extern void TF_SetAttrInt(TF_OperationDescription* desc, const char* attr_name,
                                         int64_t value);
TF_CAPI_EXPORT extern void TF_SetAttrIntList(TF_OperationDescription* desc, const char* attr_name,
                                             const int64_t* values, int num_values);
TF_CAPI_EXPORT extern void TF_SetAttrFloat(TF_OperationDescription* desc, const char* attr_name,
                                           float value);
TF_CAPI_EXPORT extern void TF_SetAttrFloatList(TF_OperationDescription* desc,
                                               const char* attr_name, const float* values,
                                               int num_values);
TF_CAPI_EXPORT extern void TF_SetAttrBool(TF_OperationDescription* desc, const char* attr_name,
                                          unsigned char value);
TF_CAPI_EXPORT extern void TF_SetAttrBoolList(TF_OperationDescription* desc,
                                              const char* attr_name, const unsigned char* values,
                                              int num_values);
TF_CAPI_EXPORT extern void TF_SetAttrType(TF_OperationDescription* desc, const char* attr_name,
                                          TF_DataType value);
TF_CAPI_EXPORT extern void TF_SetAttrTypeList(TF_OperationDescription* desc,
                                              const char* attr_name, const TF_DataType* values,
                                              int num_values);
/* Not implemented (functions): the operation fails at TF_FinishOperation. */
TF_CAPI_EXPORT extern void TF_SetAttrPlaceholder(TF_OperationDescription* desc,
                                                 const char* attr_name, const char* placeholder);
TF_CAPI_EXPORT extern void TF_SetAttrFuncName(TF_OperationDescription* desc,
                                              const char* attr_name, const char* value,
                                              size_t length);
/* A shape attr: num_dims -1 means unknown rank; a dim of -1 is unknown. */
TF_CAPI_EXPORT extern void TF_SetAttrShape(TF_OperationDescription* desc, const char* attr_name,
                                           const int64_t* dims, int num_dims);
TF_CAPI_EXPORT extern void TF_SetAttrShapeList(TF_OperationDescription* desc,
                                               const char* attr_name, const int64_t* const* dims,
                                               const int* num_dims, int num_shapes);
/* A shape attr from a serialized TensorShapeProto (INVALID_ARGUMENT if malformed). */
TF_CAPI_EXPORT extern void TF_SetAttrTensorShapeProto(TF_OperationDescription* desc,
                                                      const char* attr_name, const void* proto,
                                                      size_t proto_len, TF_Status* status);
TF_CAPI_EXPORT extern void TF_SetAttrTensorShapeProtoList(TF_OperationDescription* desc,
                                                          const char* attr_name,
                                                          const void* const* protos,
                                                          const size_t* proto_lens,
                                                          int num_shapes, TF_Status* status);
/* A tensor attr (e.g. Const's "value"); the tensor is copied. */
TF_CAPI_EXPORT extern void TF_SetAttrTensor(TF_OperationDescription* desc, const char* attr_name,
                                            TF_Tensor* value, TF_Status* status);
TF_CAPI_EXPORT extern void TF_SetAttrTensorList(TF_OperationDescription* desc,
                                                const char* attr_name, TF_Tensor* const* values,
                                                int num_values, TF_Status* status);
/* An attr from a serialized AttrValue: TF_UNIMPLEMENTED in deft. */
TF_CAPI_EXPORT extern void TF_SetAttrValueProto(TF_OperationDescription* desc,
                                                const char* attr_name, const void* proto,
                                                size_t proto_len, TF_Status* status);

/* Adds the operation to the graph and frees desc. Returns the operation, or NULL with status
 * set (INVALID_ARGUMENT for a bad input, dtype, attr or a duplicate name, NOT_FOUND for an op
 * type deft does not know); the graph is then unchanged. */
TF_CAPI_EXPORT extern TF_Operation* TF_FinishOperation(TF_OperationDescription* desc,
                                                       TF_Status* status);

/* ---- operation introspection (strings owned by the graph) ---- */

TF_CAPI_EXPORT extern const char* TF_OperationName(TF_Operation* oper);
TF_CAPI_EXPORT extern const char* TF_OperationOpType(TF_Operation* oper);
TF_CAPI_EXPORT extern const char* TF_OperationDevice(TF_Operation* oper);
TF_CAPI_EXPORT extern int TF_OperationNumOutputs(TF_Operation* oper);
TF_CAPI_EXPORT extern TF_DataType TF_OperationOutputType(TF_Output oper_out);
/* The number of outputs (inputs) argument arg_name spans: N for an `N * T` argument, the
 * list length for list(type), else 1; INVALID_ARGUMENT for an unknown name. */
TF_CAPI_EXPORT extern int TF_OperationOutputListLength(TF_Operation* oper, const char* arg_name,
                                                       TF_Status* status);
TF_CAPI_EXPORT extern int TF_OperationNumInputs(TF_Operation* oper);
TF_CAPI_EXPORT extern TF_DataType TF_OperationInputType(TF_Input oper_in);
TF_CAPI_EXPORT extern int TF_OperationInputListLength(TF_Operation* oper, const char* arg_name,
                                                      TF_Status* status);
/* The tensor feeding input oper_in. */
TF_CAPI_EXPORT extern TF_Output TF_OperationInput(TF_Input oper_in);
/* Stores the first max_inputs inputs of oper in inputs (max_inputs should be
 * TF_OperationNumInputs(oper)). */
TF_CAPI_EXPORT extern void TF_OperationAllInputs(TF_Operation* oper, TF_Output* inputs,
                                                 int max_inputs);
TF_CAPI_EXPORT extern int TF_OperationOutputNumConsumers(TF_Output oper_out);
/* Stores up to max_consumers consumers; returns the total number. */
TF_CAPI_EXPORT extern int TF_OperationOutputConsumers(TF_Output oper_out, TF_Input* consumers,
                                                      int max_consumers);
TF_CAPI_EXPORT extern int TF_OperationNumControlInputs(TF_Operation* oper);
TF_CAPI_EXPORT extern int TF_OperationGetControlInputs(TF_Operation* oper,
                                                       TF_Operation** control_inputs,
                                                       int max_control_inputs);
TF_CAPI_EXPORT extern int TF_OperationNumControlOutputs(TF_Operation* oper);
TF_CAPI_EXPORT extern int TF_OperationGetControlOutputs(TF_Operation* oper,
                                                        TF_Operation** control_outputs,
                                                        int max_control_outputs);

/* ---- attrs of an operation ---- */

typedef enum TF_AttrType {
  TF_ATTR_STRING = 0,
  TF_ATTR_INT = 1,
  TF_ATTR_FLOAT = 2,
  TF_ATTR_BOOL = 3,
  TF_ATTR_TYPE = 4,
  TF_ATTR_SHAPE = 5,
  TF_ATTR_TENSOR = 6,
  TF_ATTR_PLACEHOLDER = 7,
  TF_ATTR_FUNC = 8
} TF_AttrType;

/* What an attr holds. list_size: the number of elements of a list (-1 if not a list).
 * total_size: strings, the total byte length; shapes, the rank (-1 unknown) or for a list the
 * sum of the ranks; -1 otherwise. */
typedef struct TF_AttrMetadata {
  unsigned char is_list;
  int64_t list_size;
  TF_AttrType type;
  int64_t total_size;
} TF_AttrMetadata;

/* Getters fail with INVALID_ARGUMENT naming the operation and attr when it has no such attr or
 * the attr has another kind. */
TF_CAPI_EXPORT extern TF_AttrMetadata TF_OperationGetAttrMetadata(TF_Operation* oper,
                                                                  const char* attr_name,
                                                                  TF_Status* status);
/* Copies up to max_length bytes of a string attr into value (not NUL-terminated). */
TF_CAPI_EXPORT extern void TF_OperationGetAttrString(TF_Operation* oper, const char* attr_name,
                                                     void* value, size_t max_length,
                                                     TF_Status* status);
/* Copies up to max_values strings into storage[0..storage_size), values[i] pointing at each and
 * lengths[i] its length (INVALID_ARGUMENT if storage is too small). */
TF_CAPI_EXPORT extern void TF_OperationGetAttrStringList(TF_Operation* oper,
                                                         const char* attr_name, void** values,
                                                         size_t* lengths, int max_values,
                                                         void* storage, size_t storage_size,
                                                         TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrInt(TF_Operation* oper, const char* attr_name,
                                                  int64_t* value, TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrIntList(TF_Operation* oper, const char* attr_name,
                                                      int64_t* values, int max_values,
                                                      TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrFloat(TF_Operation* oper, const char* attr_name,
                                                    float* value, TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrFloatList(TF_Operation* oper,
                                                        const char* attr_name, float* values,
                                                        int max_values, TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrBool(TF_Operation* oper, const char* attr_name,
                                                   unsigned char* value, TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrBoolList(TF_Operation* oper, const char* attr_name,
                                                       unsigned char* values, int max_values,
                                                       TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrType(TF_Operation* oper, const char* attr_name,
                                                   TF_DataType* value, TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrTypeList(TF_Operation* oper, const char* attr_name,
                                                       TF_DataType* values, int max_values,
                                                       TF_Status* status);
/* Stores the dims of a shape attr (num_dims should be its rank, from the metadata). */
TF_CAPI_EXPORT extern void TF_OperationGetAttrShape(TF_Operation* oper, const char* attr_name,
                                                    int64_t* value, int num_dims,
                                                    TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrShapeList(TF_Operation* oper,
                                                        const char* attr_name, int64_t** dims,
                                                        int* num_dims, int num_shapes,
                                                        int64_t* storage, int storage_size,
                                                        TF_Status* status);
/* Not implemented: TF_UNIMPLEMENTED. */
TF_CAPI_EXPORT extern void TF_OperationGetAttrTensorShapeProto(TF_Operation* oper,
                                                               const char* attr_name,
                                                               TF_Buffer* value,
                                                               TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrTensorShapeProtoList(TF_Operation* oper,
                                                                   const char* attr_name,
                                                                   TF_Buffer** values,
                                                                   int max_values,
                                                                   TF_Status* status);
/* *value gets a new tensor (a copy), owned by the caller. */
TF_CAPI_EXPORT extern void TF_OperationGetAttrTensor(TF_Operation* oper, const char* attr_name,
                                                     TF_Tensor** value, TF_Status* status);
TF_CAPI_EXPORT extern void TF_OperationGetAttrTensorList(TF_Operation* oper,
                                                         const char* attr_name,
                                                         TF_Tensor** values, int max_values,
                                                         TF_Status* status);
/* Not implemented: TF_UNIMPLEMENTED. */
TF_CAPI_EXPORT extern void TF_OperationGetAttrValueProto(TF_Operation* oper,
                                                         const char* attr_name,
                                                         TF_Buffer* output_attr_value,
                                                         TF_Status* status);
TF_CAPI_EXPORT extern int TF_OperationGetNumAttrs(TF_Operation* oper);
/* The length of attr i's name, or -1 if i is out of range. */
TF_CAPI_EXPORT extern int TF_OperationGetAttrNameLength(TF_Operation* oper, int i);
/* Copies attr i's name (NUL-terminated) into output, which must hold
 * TF_OperationGetAttrNameLength(oper, i) + 1 bytes. */
TF_CAPI_EXPORT extern void TF_OperationGetAttrName(TF_Operation* oper, int i, char* output,
                                                   TF_Status* status);

/* ---- the graph's operations and its GraphDef ---- */

/* The operation named oper_name, or NULL. */
TF_CAPI_EXPORT extern TF_Operation* TF_GraphOperationByName(TF_Graph* graph,
                                                            const char* oper_name);
/* Iterates the graph's operations in creation order: start with *pos = 0; returns NULL at the
 * end. */
TF_CAPI_EXPORT extern TF_Operation* TF_GraphNextOperation(TF_Graph* graph, size_t* pos);
/* Serializes the graph as a GraphDef into output_graph_def (its data is freed by
 * TF_DeleteBuffer). */
TF_CAPI_EXPORT extern void TF_GraphToGraphDef(TF_Graph* graph, TF_Buffer* output_graph_def,
                                              TF_Status* status);
/* The OpDef of op type op_name (NOT_FOUND if deft does not know it). */
TF_CAPI_EXPORT extern void TF_GraphGetOpDef(TF_Graph* graph, const char* op_name,
                                            TF_Buffer* output_op_def, TF_Status* status);
/* A serialized VersionDef {producer}. */
TF_CAPI_EXPORT extern void TF_GraphVersions(TF_Graph* graph, TF_Buffer* output_version_def,
                                            TF_Status* status);
/* oper's NodeDef. */
TF_CAPI_EXPORT extern void TF_OperationToNodeDef(TF_Operation* oper, TF_Buffer* output_node_def,
                                                 TF_Status* status);

/* ---- importing a GraphDef ---- */

typedef struct TF_ImportGraphDefOptions TF_ImportGraphDefOptions;
typedef struct TF_ImportGraphDefResults TF_ImportGraphDefResults;

TF_CAPI_EXPORT extern TF_ImportGraphDefOptions* TF_NewImportGraphDefOptions(void);
TF_CAPI_EXPORT extern void TF_DeleteImportGraphDefOptions(TF_ImportGraphDefOptions* opts);
/* Imported names become "<prefix>/<name>". */
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsSetPrefix(TF_ImportGraphDefOptions* opts,
                                                             const char* prefix);
/* Devices for nodes without one (kept; deft runs everything on the CPU). */
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsSetDefaultDevice(
    TF_ImportGraphDefOptions* opts, const char* device);
/* Uniquifying names is not implemented: setting it true makes the import fail with
 * TF_UNIMPLEMENTED. */
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsSetUniquifyNames(
    TF_ImportGraphDefOptions* opts, unsigned char uniquify_names);
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsSetUniquifyPrefix(
    TF_ImportGraphDefOptions* opts, unsigned char uniquify_prefix);
/* Consumers of the GraphDef's src_name:src_index read dst (a tensor of the graph imported into)
 * instead. */
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsAddInputMapping(
    TF_ImportGraphDefOptions* opts, const char* src_name, int src_index, TF_Output dst);
/* Not implemented: the import fails with TF_UNIMPLEMENTED when one was added. */
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsRemapControlDependency(
    TF_ImportGraphDefOptions* opts, const char* src_name, TF_Operation* dst);
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsAddControlDependency(
    TF_ImportGraphDefOptions* opts, TF_Operation* oper);
/* Asks for the imported tensor oper_name:index (a GraphDef name) among the results. */
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsAddReturnOutput(TF_ImportGraphDefOptions* opts,
                                                                   const char* oper_name,
                                                                   int index);
TF_CAPI_EXPORT extern int TF_ImportGraphDefOptionsNumReturnOutputs(
    const TF_ImportGraphDefOptions* opts);
TF_CAPI_EXPORT extern void TF_ImportGraphDefOptionsAddReturnOperation(
    TF_ImportGraphDefOptions* opts, const char* oper_name);
TF_CAPI_EXPORT extern int TF_ImportGraphDefOptionsNumReturnOperations(
    const TF_ImportGraphDefOptions* opts);

/* Results (owned by the results object). */
TF_CAPI_EXPORT extern void TF_ImportGraphDefResultsReturnOutputs(TF_ImportGraphDefResults* results,
                                                                 int* num_outputs,
                                                                 TF_Output** outputs);
TF_CAPI_EXPORT extern void TF_ImportGraphDefResultsReturnOperations(
    TF_ImportGraphDefResults* results, int* num_opers, TF_Operation*** opers);
/* Input mappings whose source the GraphDef does not have. */
TF_CAPI_EXPORT extern void TF_ImportGraphDefResultsMissingUnusedInputMappings(
    TF_ImportGraphDefResults* results, int* num_missing_unused_input_mappings,
    const char*** src_names, int** src_indexes);
TF_CAPI_EXPORT extern void TF_DeleteImportGraphDefResults(TF_ImportGraphDefResults* results);

/* Imports the serialized GraphDef into graph (which may already hold operations). On failure
 * returns NULL with status set (INVALID_ARGUMENT for malformed bytes, a missing input, a name
 * already in the graph or a return output it does not have) and the graph is unchanged. */
TF_CAPI_EXPORT extern TF_ImportGraphDefResults* TF_GraphImportGraphDefWithResults(
    TF_Graph* graph, const TF_Buffer* graph_def, const TF_ImportGraphDefOptions* options,
    TF_Status* status);
/* As above, storing the return outputs in return_outputs[0..num_return_outputs), which must
 * equal TF_ImportGraphDefOptionsNumReturnOutputs(options). */
TF_CAPI_EXPORT extern void TF_GraphImportGraphDefWithReturnOutputs(
    TF_Graph* graph, const TF_Buffer* graph_def, const TF_ImportGraphDefOptions* options,
    TF_Output* return_outputs, int num_return_outputs, TF_Status* status);
TF_CAPI_EXPORT extern void TF_GraphImportGraphDef(TF_Graph* graph, const TF_Buffer* graph_def,
                                                  const TF_ImportGraphDefOptions* options,
                                                  TF_Status* status);

/* ---- functions and while loops: not implemented (TF_UNIMPLEMENTED) ---- */

TF_CAPI_EXPORT extern void TF_GraphCopyFunction(TF_Graph* g, const TF_Function* func,
                                                const TF_Function* grad, TF_Status* status);
TF_CAPI_EXPORT extern TF_Function* TF_FunctionImportFunctionDef(const void* proto,
                                                                size_t proto_len,
                                                                TF_Status* status);
TF_CAPI_EXPORT extern void TF_DeleteFunction(TF_Function* func);

/* ---- gradients ---- */

/* Adds operations computing the partial derivatives of sum(y) with respect to each x:
 * dy[i] = d(y_0 + ... + y_{ny-1}) / d(x_i). dx (may be NULL) holds the initial gradients of the
 * ys (default: ones). The new operations go under name scope "gradients" (made unique), each
 * op's under "gradients/<op>_grad", with TensorFlow's gradient op types. An x the ys do not
 * depend on gets dy[i] = {NULL, -1}. Fails with status set when a y is not floating point or
 * the path crosses an op without a gradient (INVALID_ARGUMENT naming it), or an output index is
 * out of range (OUT_OF_RANGE); gradient operations built before the failure stay in the graph,
 * unused. */
TF_CAPI_EXPORT extern void TF_AddGradients(TF_Graph* g, TF_Output* y, int ny, TF_Output* x,
                                           int nx, TF_Output* dx, TF_Status* status,
                                           TF_Output* dy);
/* As TF_AddGradients, with the operations under prefix (INVALID_ARGUMENT if an operation of
 * the graph already has that name or lives under it); NULL prefix = TF_AddGradients. */
TF_CAPI_EXPORT extern void TF_AddGradientsWithPrefix(TF_Graph* g, const char* prefix,
                                                     TF_Output* y, int ny, TF_Output* x, int nx,
                                                     TF_Output* dx, TF_Status* status,
                                                     TF_Output* dy);

/* ---- sessions ---- */

typedef struct TF_Session TF_Session;

/* Returns a new session on graph (which must outlive it; operations may still be added), or
 * NULL with status set. */
TF_CAPI_EXPORT extern TF_Session* TF_NewSession(TF_Graph* graph, const TF_SessionOptions* opts,
                                                TF_Status* status);

/* Loads the SavedModel in export_dir: imports its meta graph whose tags include every tags[i]
 * into graph (which must be empty: INVALID_ARGUMENT otherwise; and used by no session yet:
 * FAILED_PRECONDITION, a deft limit), restores the variables from
 * export_dir/variables/variables with the graph's own restore op, runs its main op (or legacy
 * init op) if it has one, and returns the session. meta_graph_def (may be NULL) receives the
 * MetaGraphDef (as deft exports it). NOT_FOUND (listing the tag sets) when no meta graph has
 * the tags; the loader's file errors otherwise. run_options is accepted and ignored. */
TF_CAPI_EXPORT extern TF_Session* TF_LoadSessionFromSavedModel(
    const TF_SessionOptions* session_options, const TF_Buffer* run_options,
    const char* export_dir, const char* const* tags, int tags_len, TF_Graph* graph,
    TF_Buffer* meta_graph_def, TF_Status* status);

/* Closes the session: later runs fail with FAILED_PRECONDITION. */
TF_CAPI_EXPORT extern void TF_CloseSession(TF_Session*, TF_Status* status);
/* Frees the session and its variables' values. Accepts NULL. */
TF_CAPI_EXPORT extern void TF_DeleteSession(TF_Session*, TF_Status* status);

/* Runs the graph: feeds inputs[i] = input_values[i] (borrowed), computes outputs into
 * output_values[i] (new tensors owned by the caller; NULL on failure), and runs target_opers.
 * run_options and run_metadata are accepted (run_metadata is left empty). Errors: a missing
 * feed, a fed dtype or shape that does not match (INVALID_ARGUMENT naming the tensor), an
 * output index out of range (OUT_OF_RANGE), a closed session (FAILED_PRECONDITION), a kernel's
 * error (its code). */
TF_CAPI_EXPORT extern void TF_SessionRun(TF_Session* session, const TF_Buffer* run_options,
                                         const TF_Output* inputs, TF_Tensor* const* input_values,
                                         int ninputs, const TF_Output* outputs,
                                         TF_Tensor** output_values, int noutputs,
                                         const TF_Operation* const* target_opers, int ntargets,
                                         TF_Buffer* run_metadata, TF_Status* status);

/* Partial runs: not implemented (TF_UNIMPLEMENTED). */
TF_CAPI_EXPORT extern void TF_SessionPRunSetup(TF_Session*, const TF_Output* inputs, int ninputs,
                                               const TF_Output* outputs, int noutputs,
                                               const TF_Operation* const* target_opers,
                                               int ntargets, const char** handle,
                                               TF_Status* status);
TF_CAPI_EXPORT extern void TF_SessionPRun(TF_Session*, const char* handle,
                                          const TF_Output* inputs, TF_Tensor* const* input_values,
                                          int ninputs, const TF_Output* outputs,
                                          TF_Tensor** output_values, int noutputs,
                                          const TF_Operation* const* target_opers, int ntargets,
                                          TF_Status* status);
TF_CAPI_EXPORT extern void TF_DeletePRunHandle(const char* handle);

/* ---- devices ---- */

typedef struct TF_DeviceList TF_DeviceList;

/* deft's one device: "/job:localhost/replica:0/task:0/device:CPU:0", type "CPU". */
TF_CAPI_EXPORT extern TF_DeviceList* TF_SessionListDevices(TF_Session* session,
                                                           TF_Status* status);
TF_CAPI_EXPORT extern void TF_DeleteDeviceList(TF_DeviceList* list);
TF_CAPI_EXPORT extern int TF_DeviceListCount(const TF_DeviceList* list);
/* Strings owned by the list; INVALID_ARGUMENT for an index out of range. */
TF_CAPI_EXPORT extern const char* TF_DeviceListName(const TF_DeviceList* list, int index,
                                                    TF_Status* status);
TF_CAPI_EXPORT extern const char* TF_DeviceListType(const TF_DeviceList* list, int index,
                                                    TF_Status* status);
TF_CAPI_EXPORT extern int64_t TF_DeviceListMemoryBytes(const TF_DeviceList* list, int index,
                                                       TF_Status* status);
TF_CAPI_EXPORT extern uint64_t TF_DeviceListIncarnation(const TF_DeviceList* list, int index,
                                                        TF_Status* status);

/* ---- op definitions and libraries ---- */

typedef struct TF_Library TF_Library;

/* Loading op libraries is not implemented (TF_UNIMPLEMENTED). */
TF_CAPI_EXPORT extern TF_Library* TF_LoadLibrary(const char* library_filename,
                                                 TF_Status* status);
TF_CAPI_EXPORT extern TF_Buffer TF_GetOpList(TF_Library* lib_handle);
TF_CAPI_EXPORT extern void TF_DeleteLibraryHandle(TF_Library* lib_handle);
/* A serialized OpList of every op type deft has (sorted by name); free with TF_DeleteBuffer.
 * NULL only if memory is exhausted. */
TF_CAPI_EXPORT extern TF_Buffer* TF_GetAllOpList(void);

#ifdef __cplusplus
}
#endif
#endif
