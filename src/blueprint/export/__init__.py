"""`blueprint export`: a checkpoint as ONNX and torch.export files, each checked against PyTorch on real inputs.
Needs the `export` dependency group (onnx, onnxruntime, onnxscript)."""
