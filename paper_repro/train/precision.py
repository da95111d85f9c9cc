"""Which autocast precision a run uses (:func:`resolve_precision`), without the training stack."""
from __future__ import annotations

import torch


def cpu_supports_bf16() -> bool:
    """True when oneDNN reports native bf16 kernels (AVX512-BF16 / AMX); bf16 is slower than fp32 without them."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - older torch builds
        return False


def resolve_precision(precision: str | None, device: torch.device | str) -> str:
    """``"auto"`` -> ``"bf16"`` on CPUs with native bf16 (else ``"fp32"``); on CUDA ``"bf16"`` where the GPU
    supports it, else ``"fp16"``. Explicit ``"fp32" | "bf16" | "fp16"`` pass through (fp16 is CUDA-only)."""
    device = torch.device(device)
    p = (precision or "auto").lower()
    aliases = {"32": "fp32", "float32": "fp32", "bfloat16": "bf16", "16": "fp16", "float16": "fp16", "amp": "auto"}
    p = aliases.get(p, p)
    if p not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {precision!r}")
    if p == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_supports_bf16() else "fp32"
    if p == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device; use 'bf16' or 'fp32' on CPU")
    return p
