"""``rnnkit bench``: rnnkit's training step, the recurrent layer alone, streaming and inference
against PyTorch, JAX and onnxruntime and against the GEMM floor, in one process with
interleaved repetitions; and new processes' first steps (the cold start).

Modules: ``configs`` (workloads A–D), ``steps`` (rnnkit's side), ``peer_torch``,
``peer_jax``, ``peer_onnx``, ``floor`` (only the matrix products), ``timing`` (the
interleaved loop), ``system`` (machine, memory, cold start), ``run`` (sections), ``report``.
"""
