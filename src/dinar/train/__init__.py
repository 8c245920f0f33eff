"""Training, one module per stage, on Lightning: ``stage1`` (E, G, renderer; paper 3.1, 4.1), and the
shared pieces in ``common`` (device/precision, run folders and resume, loggers, safetensors export).

Import the stage modules directly (``from dinar.train.stage1 import train_stage1``); this package
imports nothing so that ``import dinar`` stays free of Lightning.
"""
