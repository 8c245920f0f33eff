"""Training, one module per stage, on Lightning: ``stage1`` (E, G, renderer; paper 3.1, 4.1), ``vq``
(the texture VQGAN, stage 2), ``finetune`` (stage 1 through the frozen VQ, stage 2's end-to-end step),
``diffusion`` (the latent inpainter, stage 3); their data in ``stage1_data`` and ``textures``.

One trainer set-up for all of them in ``trainer`` (run folder and resume, device, precision, DDP,
TensorBoard) with ``checkpoints`` (safetensors Lightning checkpoints) and ``ema`` (diffusers' EMA);
``common`` holds frames → posed bodies and image grids.

Import the stage modules directly (``from dinar.train.stage1 import train_stage1``); this package
imports nothing so that ``import dinar`` stays free of Lightning.
"""
