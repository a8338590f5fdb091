/* SPDX-License-Identifier: Apache-2.0 */
// tests/capi_cxx.cc - a C++ program against TensorFlow's C API headers (they must be valid
// C++): builds c = a * b + 1 with TF_NewOperation, runs it and checks the numbers. Exits 0 on
// success, 1 (with a message) on failure.
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "tensorflow/c/c_api.h"

namespace {

struct StatusDeleter {
  void operator()(TF_Status* s) const { TF_DeleteStatus(s); }
};
struct GraphDeleter {
  void operator()(TF_Graph* g) const { TF_DeleteGraph(g); }
};
struct TensorDeleter {
  void operator()(TF_Tensor* t) const { TF_DeleteTensor(t); }
};

bool check(bool ok, const char* what, TF_Status* s) {
  if (!ok) std::fprintf(stderr, "capi_cxx: %s failed: %s\n", what, s ? TF_Message(s) : "");
  return ok;
}

TF_Operation* Placeholder(TF_Graph* g, const char* name, TF_Status* s) {
  TF_OperationDescription* d = TF_NewOperation(g, "Placeholder", name);
  TF_SetAttrType(d, "dtype", TF_FLOAT);
  return TF_FinishOperation(d, s);
}

}  // namespace

int main() {
  std::unique_ptr<TF_Status, StatusDeleter> status(TF_NewStatus());
  std::unique_ptr<TF_Graph, GraphDeleter> graph(TF_NewGraph());
  TF_Status* s = status.get();
  TF_Graph* g = graph.get();
  TF_Operation* a = Placeholder(g, "a", s);
  TF_Operation* b = Placeholder(g, "b", s);
  if (!check(a && b, "Placeholder", s)) return 1;
  TF_OperationDescription* d = TF_NewOperation(g, "Mul", "ab");
  TF_AddInput(d, TF_Output{a, 0});
  TF_AddInput(d, TF_Output{b, 0});
  TF_Operation* ab = TF_FinishOperation(d, s);
  if (!check(ab != nullptr, "Mul", s)) return 1;
  std::unique_ptr<TF_Tensor, TensorDeleter> one(TF_AllocateTensor(TF_FLOAT, nullptr, 0, 4));
  *static_cast<float*>(TF_TensorData(one.get())) = 1.0f;
  d = TF_NewOperation(g, "Const", "one");
  TF_SetAttrTensor(d, "value", one.get(), s);
  TF_SetAttrType(d, "dtype", TF_FLOAT);
  TF_Operation* c1 = TF_FinishOperation(d, s);
  if (!check(c1 != nullptr, "Const", s)) return 1;
  d = TF_NewOperation(g, "AddV2", "c");
  TF_AddInput(d, TF_Output{ab, 0});
  TF_AddInput(d, TF_Output{c1, 0});
  TF_Operation* c = TF_FinishOperation(d, s);
  if (!check(c != nullptr, "AddV2", s)) return 1;

  TF_SessionOptions* opts = TF_NewSessionOptions();
  TF_Session* sess = TF_NewSession(g, opts, s);
  TF_DeleteSessionOptions(opts);
  if (!check(TF_GetCode(s) == TF_OK, "TF_NewSession", s)) return 1;
  std::vector<int64_t> dims{4};
  std::vector<float> av{1, 2, 3, 4}, bv{0.5f, -1, 2, 10};
  std::unique_ptr<TF_Tensor, TensorDeleter> at(
      TF_NewTensor(TF_FLOAT, dims.data(), 1, av.data(), av.size() * sizeof(float), nullptr, nullptr));
  std::unique_ptr<TF_Tensor, TensorDeleter> bt(
      TF_NewTensor(TF_FLOAT, dims.data(), 1, bv.data(), bv.size() * sizeof(float), nullptr, nullptr));
  TF_Output inputs[2] = {{a, 0}, {b, 0}};
  TF_Tensor* values[2] = {at.get(), bt.get()};
  TF_Output output{c, 0};
  TF_Tensor* result = nullptr;
  TF_SessionRun(sess, nullptr, inputs, values, 2, &output, &result, 1, nullptr, 0, nullptr, s);
  if (!check(TF_GetCode(s) == TF_OK, "TF_SessionRun", s)) return 1;
  std::unique_ptr<TF_Tensor, TensorDeleter> res(result);
  const float* r = static_cast<const float*>(TF_TensorData(result));
  for (size_t i = 0; i < av.size(); i++)
    if (!check(r[i] == av[i] * bv[i] + 1.0f, "the value of a * b + 1", nullptr)) return 1;
  TF_CloseSession(sess, s);
  TF_DeleteSession(sess, s);
  std::printf("capi_cxx: a * b + 1 = [%g, %g, %g, %g] (TF_Version %s)\n", r[0], r[1], r[2], r[3],
              TF_Version());
  return 0;
}
