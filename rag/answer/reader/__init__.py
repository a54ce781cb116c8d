"""The extractive reader: windows over question + passages, a span head on ONNX Runtime (or
PyTorch), and the no-answer rule. Training lives in rag.train_reader."""
