"""Flow-aware horizontal flip: mirror, u → −u, left/right regions swapped with mirrored boxes."""

from __future__ import annotations

import pytest
import torch

from emhnet_lite.constants import REGION_NAMES
from emhnet_lite.model import crop_regions
from emhnet_lite.train.augment import REGION_MIRROR, augment_batch, hflip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sample(batch: int = 2, size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    flows = torch.randn(batch, 3, size, size, generator=generator)  # [B, 3, H, W]
    flows[:, 2] = flows[:, 2].abs()
    boxes = (
        torch.tensor(
            [
                [1.0, 2.0, 15.0, 16.0],
                [13.0, 2.0, 27.0, 16.0],
                [2.0, 13.0, 16.0, 27.0],
                [12.0, 13.0, 26.0, 27.0],
            ]
        )
        .expand(batch, 4, 4)
        .clone()
    )
    return flows, boxes


def test_region_mirror_swaps_left_and_right() -> None:
    assert [REGION_NAMES[i] for i in REGION_MIRROR] == ["right_eye", "left_eye", "right_lip", "left_lip"]


def test_hflip_negates_u_mirrors_and_swaps_boxes() -> None:
    flows, boxes = _sample()
    flipped, flipped_boxes = hflip(flows, boxes)
    width = flows.shape[-1]
    assert torch.equal(flipped[:, 0], -flows[:, 0].flip(-1))  # u negated and mirrored
    assert torch.equal(flipped[:, 1], flows[:, 1].flip(-1))  # v only mirrored
    assert torch.equal(flipped[:, 2], flows[:, 2].flip(-1))  # strain only mirrored
    # new left_eye box = mirrored old right_eye box (13..27 → 1..15)
    assert flipped_boxes[0, 0].tolist() == [width - 27.0, 2.0, width - 13.0, 16.0]
    assert flipped_boxes[0, 2].tolist() == [width - 26.0, 13.0, width - 12.0, 27.0]
    assert (flipped_boxes[..., 2] > flipped_boxes[..., 0]).all()
    twice = hflip(flipped, flipped_boxes)
    assert torch.equal(twice[0], flows) and torch.equal(twice[1], boxes)


def test_flipped_region_crop_is_the_mirrored_partner_crop() -> None:
    flows, boxes = _sample(size=28)
    crops = crop_regions(flows, boxes, 14)  # [B, 4, 3, 14, 14]
    flipped, flipped_boxes = hflip(flows, boxes)
    flipped_crops = crop_regions(flipped, flipped_boxes, 14)
    for region, partner in enumerate(REGION_MIRROR):
        expected = crops[:, partner].flip(-1)
        expected[:, 0] = -expected[:, 0]
        torch.testing.assert_close(flipped_crops[:, region], expected)


def test_augment_batch_is_seeded_and_flip_free_at_zero() -> None:
    flows, boxes = _sample(batch=8)
    first = augment_batch(flows, boxes, 0.5, 0.1, torch.Generator().manual_seed(7))
    second = augment_batch(flows, boxes, 0.5, 0.1, torch.Generator().manual_seed(7))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    unchanged = augment_batch(flows, boxes, 0.0, 0.0, torch.Generator().manual_seed(7))
    assert torch.equal(unchanged[0], flows) and torch.equal(unchanged[1], boxes)
    always = augment_batch(flows, boxes, 1.0, 0.0, torch.Generator().manual_seed(7))
    assert torch.equal(always[0], hflip(flows, boxes)[0])
