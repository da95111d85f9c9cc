"""paper_repro: reproducible, brightness/contrast-robust contrastive image tampering localization.

Modules (one place per concern):

- :mod:`paper_repro.data`     datasets (manifests, readers, synthetic tampering, DataLoaders)
- :mod:`paper_repro.perturb`  brightness / contrast / JPEG / blur / noise perturbations (batched torch)
- :mod:`paper_repro.metrics`  pixel F1 / IoU / AUC, PSNR / SSIM (whole image and inside the mask)
- :mod:`paper_repro.models`   one registry: ``create(name, **cfg)``, ``available()``
- :mod:`paper_repro.losses`   small composable loss modules returning ``(total, parts)``
- :mod:`paper_repro.train`    fastai ``Learner`` factories and callbacks
- :mod:`paper_repro.evaluate` evaluation passes and robustness sweeps
- :mod:`paper_repro.profiles` the ``smoke`` / ``cpu`` / ``paper`` parameter sets
- :mod:`paper_repro.cli`      the ``paper-repro`` command
"""

__version__ = "0.1.0"
