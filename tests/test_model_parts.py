"""EMHNet parts on their own: regions, partitioning, router, cross-scale gate, experts, HMoE gate."""

from __future__ import annotations

import pytest
import torch

from emhnet_lite.model.cross_scale import CrossScaleGate, same_scale_mask
from emhnet_lite.model.expert import RegionExperts
from emhnet_lite.model.hmoe import HMoEGate, load_balance_loss
from emhnet_lite.model.layers import (
    ExpertAttention,
    ExpertLinear,
    grouped_attention,
    masked_softmax_attention,
)
from emhnet_lite.model.partition import (
    MultiScaleTokenizer,
    PartitionRouter,
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


@pytest.mark.parametrize("layout", ["landmark", "quadrant"])
def test_canonical_boxes_inside_image_and_in_region_order(layout):
    for size in (28, 56):
        boxes = canonical_boxes(size, size, layout=layout)
        assert boxes.shape == (4, 4)
        assert (boxes >= 0).all() and (boxes <= size).all()
        sides = boxes[:, 2] - boxes[:, 0]
        expected = [size / 2] * 4 if layout == "quadrant" else [0.32 * size] * 2 + [0.24 * size] * 2
        torch.testing.assert_close(sides, torch.tensor(expected))
        centres_x = (boxes[:, 0] + boxes[:, 2]) / 2
        centres_y = (boxes[:, 1] + boxes[:, 3]) / 2
        assert centres_x[0] < centres_x[1] and centres_x[2] < centres_x[3]  # image-left first
        assert centres_y[0] < centres_y[2]  # eyes above lips


def test_canonical_landmark_boxes_are_the_preprocessing_boxes_of_the_canonical_face():
    from emhnet_lite.preprocess.landmarks import canonical_landmarks
    from emhnet_lite.preprocess.regions import region_boxes

    for size in (28, 56):
        expected = torch.from_numpy(region_boxes(canonical_landmarks(size, size), size))
        # same sides; centres within half a pixel (landmarks are pixel centres, boxes pixel edges: +0.5)
        torch.testing.assert_close(canonical_boxes(size, size), expected, rtol=0, atol=0.5 + 0.002 * size)


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
    tokens = tokenizer(crops)
    assert tokens.shape == (4, 3, 29, 16)  # expert-first
    assert tokenizer.scale_index(14, 14).tolist() == [0] * 16 + [1] * 9 + [2] * 4
    router = PartitionRouter(num_regions=4, dim=16, num_scales=3, hidden=8)
    logits = router(tokens, tokenizer.token_counts(14, 14))
    assert logits.shape == (4, 3, 3)
    assert not torch.allclose(router(tokenizer(crops * 4), [16, 9, 4]), logits)  # reads the region's own tokens
    assert not torch.allclose(logits[:, 0], logits[:, 1])  # per sample


@pytest.mark.parametrize("across", [False, True])
def test_grouped_attention_equals_masked_full_attention(across):
    """One fused attention per scale (block-diagonal or off-diagonal) = the masked N x N attention."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 2, 29, 8, generator=generator) for _ in range(3))  # [E, B, h, N, dh]
    index = torch.tensor([0] * 16 + [1] * 9 + [2] * 4)
    allowed = same_scale_mask(index) if not across else ~same_scale_mask(index)
    expected, expected_weights = masked_softmax_attention(q, k, v, allowed)
    fused, no_weights = grouped_attention(q, k, v, [16, 9, 4], across)
    explicit, weights = grouped_attention(q, k, v, [16, 9, 4], across, need_weights=True)
    assert no_weights is None
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(explicit, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(weights, expected_weights)


def test_attention_key_bias_matches_explicit_and_minus_inf_removes_a_key():
    torch.manual_seed(0)
    attention = ExpertAttention(1, 8, 2)
    x = torch.randn(1, 2, 6, 8)
    bias = torch.zeros(1, 2, 6)
    bias[..., 5] = float("-inf")
    fused, _ = attention(x, bias=bias)
    explicit, weights = attention(x, bias=bias, need_weights=True)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
    assert weights[..., 5].abs().max() == 0
    changed = x.clone()
    changed[:, :, 5] += 1.0  # the removed key's token changes: the other tokens' outputs do not
    again, _ = attention(changed, bias=bias)
    torch.testing.assert_close(again[:, :, :5], fused[:, :, :5], rtol=1e-5, atol=1e-6)


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
    out, maps = gate(tokens, index, need_weights=True)
    assert out.shape == tokens.shape
    attention = maps["attention"]  # [E, B, h, N, N]
    assert attention[..., same_scale_mask(index)].abs().max() == 0
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 3, 2, 9))
    assert ((maps["gate"] > 0) & (maps["gate"] < 1)).all()


def test_expert_attention_sees_more_than_one_token():
    torch.manual_seed(0)
    experts = RegionExperts(num_experts=1, dim=8, heads=2, depth=1, mlp_ratio=2.0)
    index = torch.tensor([0] * 16 + [1] * 9 + [2] * 4)
    summaries, maps = experts(torch.randn(1, 2, 29, 8), index, need_weights=True)
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
    hard = HMoEGate(num_regions=4, dim=8, partition="hard").eval()
    logits = torch.randn(4, 3, 2)
    picked = hard(summaries, logits, torch.randn(3, 8))
    torch.testing.assert_close(picked["region_embeddings"],
                               torch.gather(summaries, 2, logits.argmax(-1)[..., None, None].expand(-1, -1, 1, 8))[:, :, 0])
    assert out["scale_weights"].shape == (3, 4, 2) and out["region_weights"].shape == (3, 4)
    torch.testing.assert_close(out["region_weights"].sum(-1), torch.ones(3))
    assert out["aux_loss"].item() > 0  # scale level collapsed on purpose
