"""Stage 1's data: frame pairs of the training people and a fixed spread of held-out pairs for
validation (:class:`Stage1DataModule`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Subset

from dinar.data.datasets import FramePairDataset
from dinar.data.layout import DatasetError


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
def _split_people(root: Path, split: str) -> list[str]:
    path = root / "splits.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()).get(split, []))


def spread_subset(dataset, count: int) -> Subset | Any:
    """``count`` items evenly spread over ``dataset`` (deterministic), or all of it."""
    n = len(dataset)
    if count <= 0 or count >= n:
        return dataset
    return Subset(dataset, [int(i * n / count) for i in range(count)])


class Stage1DataModule(L.LightningDataModule):
    """Pairs of frames (FramePairDataset): the ``train`` split of ``splits.json`` for training, the
    ``val`` split (people never seen in training) for validation; a fixed, evenly spread subset of
    ``val_batches × batch_size`` validation pairs so every validation sees the same pairs."""

    def __init__(self, data_dir: str | Path, batch_size: int = 4, num_workers: int = 2, val_batches: int = 16, body_model: str = "anny"):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_batches = val_batches
        self.body_model = body_model
        self.train_set = self.val_set = None

    @property
    def has_val(self) -> bool:
        return bool(_split_people(self.data_dir, "val"))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            if not _split_people(self.data_dir, "train"):
                raise DatasetError(f"{self.data_dir / 'splits.json'}: missing or without 'train' people (stage 1 trains on the train split)")
            self.train_set = FramePairDataset(self.data_dir, split="train", body_model=self.body_model)
            if len(self.train_set) < self.batch_size:
                raise DatasetError(f"{self.data_dir}: {len(self.train_set)} training pairs, fewer than the batch size {self.batch_size}")
        if self.val_set is None and self.has_val:
            full = FramePairDataset(self.data_dir, split="val", body_model=self.body_model)
            self.val_set = spread_subset(full, self.val_batches * self.batch_size)

    def _loader(self, dataset, shuffle: bool, drop_last: bool) -> DataLoader:
        return DataLoader(
            dataset, batch_size=self.batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True, drop_last=True)

    def val_dataloader(self):
        return self._loader(self.val_set, shuffle=False, drop_last=False) if self.val_set is not None else []
