"""Losses: small composable modules returning ``(total, parts)``; ``loss_for(model_name)`` picks one.

- :mod:`.segmentation`      BCE, Dice, sigmoid focal (MPC stage 2)
- :mod:`.contrastive`       supervised pixel contrastive loss (Zhao et al., ICCV 2021) for ReConWave-Net
- :mod:`.restoration`       focal frequency loss (Jiang et al., ICCV 2021), forensics-oriented restoration loss
- :mod:`.patch_contrastive` contour-patch labelling, pixel/patch InfoNCE (LPCLNet), NCL pivot losses
- :mod:`.mpc`               MPC multi-view pixel contrastive pretraining loss
"""
from .registry import loss_for, losses_available, register_loss  # noqa: F401
from . import segmentation, contrastive, restoration, patch_contrastive, mpc  # noqa: F401,E402
