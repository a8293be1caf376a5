"""HTNet (exact parameter count, one-token attention, mosaic) and STSTNet (published size)."""

from __future__ import annotations

import pytest
import torch

from emhnet_lite.model import HTNET_PARAMETERS, STSTNET_PUBLISHED_PARAMETERS, build_model, count_parameters
from emhnet_lite.model.htnet import ConvAttention, htnet_mosaic
from emhnet_lite.model.regions import canonical_boxes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def htnet():
    torch.manual_seed(0)
    return build_model("htnet").eval()


def test_htnet_parameter_count_is_exact(htnet):
    assert count_parameters(htnet) == HTNET_PARAMETERS == 139_582_982


def test_htnet_reduced_is_htnet_at_cpu_size():
    """``htnet_reduced`` (the CPU baseline of comparisons) is HTNet's class with the reduced preset."""
    torch.manual_seed(0)
    reduced = build_model("htnet_reduced")
    torch.manual_seed(0)
    explicit = build_model("htnet", dim=32, heads=2, block_repeats=(1, 1, 2))
    assert type(reduced) is type(explicit) and count_parameters(reduced) == 556_294
    for (name, value), (_, expected) in zip(reduced.state_dict().items(), explicit.state_dict().items(), strict=True):
        assert torch.equal(value, expected), name


def test_htnet_attention_sees_one_token(htnet):
    flow = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    logits, aux = htnet(flow, return_aux=True)
    assert logits.shape == (2, 3)
    assert aux["tokens_per_block"] == [1, 1, 1]
    blocks = aux["attention"]["blocks"]
    assert len(blocks) == 14 and blocks[0].shape == (2 * 16, 3, 1, 1)  # 16 one-token blocks per sample
    attentions = [m for m in htnet.modules() if isinstance(m, ConvAttention)]
    assert len(attentions) == 2 + 2 + 10
    for module in attentions:
        assert module.last_attention.shape[-2:] == (1, 1)
        torch.testing.assert_close(module.last_attention, torch.ones_like(module.last_attention))
    # attention output == to_out(V) for a block of one token
    block = attentions[0]
    x = torch.randn(5, 256, 1, 1)
    v = block.to_qkv(block.norm(x)).chunk(3, dim=1)[2]
    torch.testing.assert_close(block(x), block.to_out(v))


def test_htnet_mosaic_layout_and_sizes():
    flow = torch.arange(28 * 28, dtype=torch.float32).reshape(1, 1, 28, 28).repeat(1, 3, 1, 1)
    boxes = canonical_boxes(28, 28, batch=1)
    mosaic = htnet_mosaic(flow, boxes)
    centres = ((boxes[0, :, :2] + boxes[0, :, 2:]) / 2).clamp(7, 21).floor().long()  # (x, y)
    def crop(i):
        x, y = centres[i].tolist()
        return flow[0, :, y - 7:y + 7, x - 7:x + 7]
    torch.testing.assert_close(mosaic[0, :, :14, :14], crop(0))  # left eye
    torch.testing.assert_close(mosaic[0, :, :14, 14:], crop(2))  # left lip
    torch.testing.assert_close(mosaic[0, :, 14:, :14], crop(1))  # right eye
    torch.testing.assert_close(mosaic[0, :, 14:, 14:], crop(3))  # right lip


def test_htnet_at_56_and_wrong_size_error():
    torch.manual_seed(0)
    model = build_model("htnet", image_size=56, dim=16, heads=1, block_repeats=(1, 1, 1))
    logits, aux = model(torch.randn(2, 3, 56, 56), return_aux=True)
    assert logits.shape == (2, 3) and aux["tokens_per_block"] == [4, 4, 4]
    with pytest.raises(ValueError, match="image_size"):
        model(torch.randn(2, 3, 28, 28))


def test_ststnet_matches_published_size_and_shapes():
    torch.manual_seed(0)
    model = build_model("ststnet")
    assert count_parameters(model) == STSTNET_PUBLISHED_PARAMETERS == 1683
    logits, aux = model(torch.randn(4, 3, 28, 28), return_aux=True)
    assert logits.shape == (4, 3) and aux["aux_loss"].item() == 0.0
    big = build_model("ststnet", image_size=56)
    assert big(torch.randn(2, 3, 56, 56)).shape == (2, 3)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
