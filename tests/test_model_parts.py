"""EMHNet parts on their own: regions, partitioning, router, cross-scale gate, experts, HMoE gate."""

from __future__ import annotations

import pytest
import torch

from emhnet_lite.model.cross_scale import CrossScaleGate, same_scale_mask
from emhnet_lite.model.expert import RegionExperts
from emhnet_lite.model.hmoe import HMoEGate, load_balance_loss
from emhnet_lite.model.layers import ExpertLinear
from emhnet_lite.model.partition import (
    MultiScaleTokenizer,
    ScaleRouter,
    block_centres,
    pad_to_multiple,
    padding_for,
    partition_blocks,
)
from emhnet_lite.model.regions import canonical_boxes, crop_regions

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_integer_boxes_crop_exact_pixels():
    flow = torch.arange(2 * 3 * 28 * 28, dtype=torch.float32).reshape(2, 3, 28, 28)
    boxes = torch.tensor([[[2.0, 4.0, 16.0, 18.0]] * 4, [[10.0, 1.0, 24.0, 15.0]] * 4])
    crops = crop_regions(flow, boxes, 14)  # [B, R, C, 14, 14]
    torch.testing.assert_close(crops[0, 0], flow[0, :, 4:18, 2:16])  # rows = y, cols = x
    torch.testing.assert_close(crops[1, 3], flow[1, :, 1:15, 10:24])


def test_canonical_boxes_inside_image_and_in_region_order():
    for size in (28, 56):
        boxes = canonical_boxes(size, size)
        assert boxes.shape == (4, 4)
        assert (boxes >= 0).all() and (boxes <= size).all()
        torch.testing.assert_close(boxes[:, 2] - boxes[:, 0], torch.full((4,), size / 2))
        centres_x = (boxes[:, 0] + boxes[:, 2]) / 2
        centres_y = (boxes[:, 1] + boxes[:, 3]) / 2
        assert centres_x[0] < centres_x[1] and centres_x[2] < centres_x[3]  # image-left first
        assert centres_y[0] < centres_y[2]  # eyes above lips


def test_padding_and_partition_shapes():
    assert padding_for(14, 4) == (1, 1) and padding_for(14, 5) == (0, 1) and padding_for(14, 7) == (0, 0)
    x = torch.randn(2, 3, 14, 14)
    assert pad_to_multiple(x, 4).shape == (2, 3, 16, 16)
    blocks = partition_blocks(x, 5)
    assert blocks.shape == (2, 9, 3 * 25)
    # the first block of the 7 px partition is exactly the top-left 7x7 patch, channels last
    first = partition_blocks(x, 7)[:, 0].reshape(2, 7, 7, 3).permute(0, 3, 1, 2)
    torch.testing.assert_close(first, x[:, :, :7, :7])
    # padding is zeros: the 4 px partition's first block has a zero top row and left column
    padded_first = partition_blocks(x, 4)[:, 0].reshape(2, 4, 4, 3)
    assert padded_first[:, 0].abs().sum() == 0 and padded_first[:, :, 0].abs().sum() == 0


def test_block_centres_agree_across_scales():
    for block in (4, 5, 7):
        centres = block_centres(14, 14, block)
        assert centres.shape[1] == 2
        # centres are symmetric about the crop centre when the padding is symmetric
        if sum(padding_for(14, block)) % 2 == 0:
            torch.testing.assert_close(centres.mean(0), torch.tensor([0.5, 0.5]))


def test_tokenizer_and_router_shapes_and_router_responds():
    torch.manual_seed(0)
    tokenizer = MultiScaleTokenizer((4, 5, 7), dim=16)
    crops = torch.randn(3, 4, 3, 14, 14)
    assert tokenizer(crops).shape == (4, 3, 29, 16)  # expert-first
    assert tokenizer.scale_index(14, 14).tolist() == [0] * 16 + [1] * 9 + [2] * 4
    router = ScaleRouter((4, 5, 7), num_regions=4, hidden=8)
    logits = router(crops)
    assert logits.shape == (4, 3, 3)
    assert not torch.allclose(router(crops * 4), logits)


def test_expert_linear_weights_not_shared():
    torch.manual_seed(0)
    layer = ExpertLinear(4, 8, 8)
    x = torch.randn(1, 5, 8).expand(4, 5, 8)  # same input for every expert
    out = layer(x)
    assert not torch.allclose(out[0], out[1])
    torch.testing.assert_close(out[2], x[2] @ layer.weight[2] + layer.bias[2])


def test_cross_scale_gate_only_attends_other_scales():
    torch.manual_seed(0)
    index = torch.tensor([0] * 4 + [1] * 3 + [2] * 2)
    assert same_scale_mask(index).sum() == 16 + 9 + 4
    gate = CrossScaleGate(num_experts=2, dim=8, heads=2)
    tokens = torch.randn(2, 3, 9, 8)
    out, maps = gate(tokens, index)
    assert out.shape == tokens.shape
    attention = maps["attention"]  # [E, B, h, N, N]
    assert attention[..., same_scale_mask(index)].abs().max() == 0
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 3, 2, 9))
    assert ((maps["gate"] > 0) & (maps["gate"] < 1)).all()


def test_expert_attention_sees_more_than_one_token():
    torch.manual_seed(0)
    experts = RegionExperts(num_experts=1, dim=8, heads=2, depth=1, mlp_ratio=2.0)
    index = torch.tensor([0] * 16 + [1] * 9 + [2] * 4)
    summaries, maps = experts(torch.randn(1, 2, 29, 8), index)
    assert summaries.shape == (1, 2, 3, 8)
    attention = maps["self"][0]  # [1, 2, h, 29, 29]
    keys_used = (attention > 0).sum(-1)
    assert keys_used.min() >= 4  # every query spreads over its whole scale (>= 4 tokens)
    assert attention.max() < 1.0


def test_load_balance_loss_values():
    uniform = torch.full((8, 4), 0.25)
    collapsed = torch.zeros(8, 4)
    collapsed[:, 2] = 1.0
    assert load_balance_loss(uniform).item() == 0.0
    assert abs(load_balance_loss(collapsed).item() - 3.0) < 1e-6
    # per-sample specialisation is not penalised as long as the batch uses every expert
    specialised = torch.eye(4).repeat(2, 1)
    assert abs(load_balance_loss(specialised).item()) < 1e-6


def test_hmoe_gate_levels():
    torch.manual_seed(0)
    gate = HMoEGate(num_regions=4, dim=8, balance_weight=0.5)
    summaries = torch.randn(4, 3, 2, 8)
    scale_logits = torch.zeros(4, 3, 2)
    scale_logits[..., 1] = 50.0  # level 1 picks scale 1 everywhere
    out = gate(summaries, scale_logits, torch.randn(3, 8))
    torch.testing.assert_close(out["region_embeddings"], summaries[:, :, 1])
    assert out["scale_weights"].shape == (3, 4, 2) and out["region_weights"].shape == (3, 4)
    torch.testing.assert_close(out["region_weights"].sum(-1), torch.ones(3))
    assert out["aux_loss"].item() > 0  # scale level collapsed on purpose
