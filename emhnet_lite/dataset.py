"""``PreparedSet``: the cached model inputs of a composite as tensors, one row per sample."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


@dataclass
class PreparedSet:
    """Model inputs aligned row by row with ``table`` (the composite table of the prepared samples).

    flows: [N, 3, H, W] float32 in (u, v, strain) order; boxes: [N, 4, 4] float32 (x0, y0, x1, y1) in
    input pixels, ``REGION_NAMES`` order; labels: [N] int64 (0, 1, 2).
    """

    table: pd.DataFrame
    flows: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        n = len(self.table)
        if not (self.flows.shape[0] == self.boxes.shape[0] == self.labels.shape[0] == n):
            raise ValueError(
                f"PreparedSet: table has {n} rows but flows/boxes/labels have "
                f"{self.flows.shape[0]}/{self.boxes.shape[0]}/{self.labels.shape[0]}"
            )
        if self.flows.ndim != 4 or self.flows.shape[1] != 3:
            raise ValueError(f"PreparedSet: flows must be [N, 3, H, W], got {tuple(self.flows.shape)}")
        if tuple(self.boxes.shape[1:]) != (4, 4):
            raise ValueError(f"PreparedSet: boxes must be [N, 4, 4], got {tuple(self.boxes.shape)}")
        self.table = self.table.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def subjects(self) -> list[str]:
        """Subject keys ``dataset/subject`` in sorted order (the LOSO fold order)."""
        return sorted(set(self.subject_keys))

    @property
    def subject_keys(self) -> list[str]:
        """Per-row ``dataset/subject`` key: subject ids are only unique within a dataset."""
        return (self.table["dataset"].astype(str) + "/" + self.table["subject"].astype(str)).tolist()

    def subset(self, mask: np.ndarray | list[bool] | torch.Tensor) -> PreparedSet:
        """Rows where ``mask`` is true, as a new ``PreparedSet``."""
        mask_np = np.asarray(mask, dtype=bool)
        index = torch.from_numpy(np.flatnonzero(mask_np))
        return PreparedSet(
            table=self.table.iloc[index.numpy()].reset_index(drop=True),
            flows=self.flows[index],
            boxes=self.boxes[index],
            labels=self.labels[index],
        )


def data_fingerprint(data: PreparedSet) -> str:
    """sha256 of flows, boxes, labels and sample ids: a resumed run, a shard or a figure must see the same data."""
    digest = hashlib.sha256()
    for tensor in (data.flows, data.boxes, data.labels):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    ids = data.table[["dataset", "subject", "clip"]].astype(str).agg("/".join, axis=1)
    digest.update("\n".join(ids).encode())
    return digest.hexdigest()
