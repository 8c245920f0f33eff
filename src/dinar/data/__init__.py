"""Datasets and data making: the on-disk layout, the synthetic-people generator and the loaders."""
