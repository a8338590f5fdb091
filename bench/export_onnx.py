# SPDX-License-Identifier: Apache-2.0
"""bench/export_onnx.py OUT.onnx: the chapter's batch-norm model (784-300-100-10: dense, batch
norm, ELU; dense, batch norm, ELU; dense, batch norm), as bench_build_bn builds it in deft, in
inference mode (moving statistics), exported from PyTorch with torch.onnx for ONNX Runtime
(bench_ort). The weights are random: inference time does not depend on their values. The
batch dimension is dynamic, so one file serves batch 1 and batch 200."""
import sys

import torch

torch.manual_seed(42)
model = torch.nn.Sequential(
    torch.nn.Linear(784, 300), torch.nn.BatchNorm1d(300, momentum=0.1), torch.nn.ELU(),
    torch.nn.Linear(300, 100), torch.nn.BatchNorm1d(100, momentum=0.1), torch.nn.ELU(),
    torch.nn.Linear(100, 10), torch.nn.BatchNorm1d(10, momentum=0.1))
with torch.no_grad():  # non-trivial moving statistics
    for m in model:
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
model.eval()
x = torch.rand(200, 784)
torch.onnx.export(model, x, sys.argv[1], input_names=["X"], output_names=["logits"],
                  dynamic_axes={"X": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
print(f"INFO onnx_export torch={torch.__version__} opset=13 file={sys.argv[1]}")
