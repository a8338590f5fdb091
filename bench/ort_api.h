/* SPDX-License-Identifier: Apache-2.0 */
/* bench/ort_api.h - the part of ONNX Runtime's C API that bench_ort calls, written for the
 * benchmark from the API's documented signatures (onnxruntime_c_api.h; ONNX Runtime ships no
 * header in the npm package whose libonnxruntime.so bench_ort loads).
 *
 * OrtGetApiBase() returns a table of function pointers, OrtApi, whose first 101 entries are
 * "version 1", frozen by ONNX Runtime since 1.0 (later versions only append). The entries
 * bench_ort calls are typed below at their documented positions; the others are placeholders
 * that keep the positions. Enums are passed as int (their C ABI). */
#ifndef DEFT_BENCH_ORT_API_H
#define DEFT_BENCH_ORT_API_H

#include <stddef.h>
#include <stdint.h>

typedef struct OrtStatus OrtStatus; /* NULL means success */
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtRunOptions OrtRunOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;

enum {
  ORT_LOGGING_LEVEL_WARNING = 2,
  ORT_SEQUENTIAL = 0,
  ORT_ENABLE_ALL = 99,
  ORT_ARENA_ALLOCATOR = 1,
  ORT_MEM_TYPE_DEFAULT = 0,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1
};

typedef struct OrtApi {
  OrtStatus *(*CreateStatus)(int code, const char *msg);                                 /* 0 */
  int (*GetErrorCode)(const OrtStatus *status);                                          /* 1 */
  const char *(*GetErrorMessage)(const OrtStatus *status);                               /* 2 */
  OrtStatus *(*CreateEnv)(int log_severity_level, const char *logid, OrtEnv **out);      /* 3 */
  void *slots4_6[3]; /* CreateEnvWithCustomLogger, Enable/DisableTelemetryEvents */
  OrtStatus *(*CreateSession)(const OrtEnv *env, const char *model_path,
                              const OrtSessionOptions *options, OrtSession **out);       /* 7 */
  void *slot8; /* CreateSessionFromArray */
  OrtStatus *(*Run)(OrtSession *session, const OrtRunOptions *run_options,
                    const char *const *input_names, const OrtValue *const *inputs,
                    size_t input_len, const char *const *output_names, size_t output_names_len,
                    OrtValue **outputs);                                                 /* 9 */
  OrtStatus *(*CreateSessionOptions)(OrtSessionOptions **options);                       /* 10 */
  void *slots11_12[2]; /* SetOptimizedModelFilePath, CloneSessionOptions */
  OrtStatus *(*SetSessionExecutionMode)(OrtSessionOptions *options, int execution_mode); /* 13 */
  void *slots14_22[9]; /* profiling, memory pattern, CPU arena, session log settings */
  OrtStatus *(*SetSessionGraphOptimizationLevel)(OrtSessionOptions *options, int level); /* 23 */
  OrtStatus *(*SetIntraOpNumThreads)(OrtSessionOptions *options, int n);                 /* 24 */
  OrtStatus *(*SetInterOpNumThreads)(OrtSessionOptions *options, int n);                 /* 25 */
  void *slots26_48[23]; /* custom ops, session input/output info, run options, CreateTensorAsOrtValue */
  OrtStatus *(*CreateTensorWithDataAsOrtValue)(const OrtMemoryInfo *info, void *p_data,
                                               size_t p_data_len, const int64_t *shape,
                                               size_t shape_len, int type, OrtValue **out); /* 49 */
  void *slot50; /* IsTensor */
  OrtStatus *(*GetTensorMutableData)(OrtValue *value, void **out);                       /* 51 */
  void *slots52_68[17]; /* string tensors, type and shape info, CreateMemoryInfo */
  OrtStatus *(*CreateCpuMemoryInfo)(int allocator_type, int mem_type, OrtMemoryInfo **out); /* 69 */
  void *slots70_91[22]; /* memory info getters, allocators, maps/sequences, custom-op kernels */
  void (*ReleaseEnv)(OrtEnv *input);                                                     /* 92 */
  void (*ReleaseStatus)(OrtStatus *input);                                               /* 93 */
  void (*ReleaseMemoryInfo)(OrtMemoryInfo *input);                                       /* 94 */
  void (*ReleaseSession)(OrtSession *input);                                             /* 95 */
  void (*ReleaseValue)(OrtValue *input);                                                 /* 96 */
  void *slots97_99[3]; /* ReleaseRunOptions, ReleaseTypeInfo, ReleaseTensorTypeAndShapeInfo */
  void (*ReleaseSessionOptions)(OrtSessionOptions *input);                               /* 100 */
} OrtApi;

typedef struct OrtApiBase {
  const OrtApi *(*GetApi)(uint32_t version);
  const char *(*GetVersionString)(void);
} OrtApiBase;

/* The library's one exported entry point. */
typedef const OrtApiBase *(*OrtGetApiBaseFn)(void);

#endif
