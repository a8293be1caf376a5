"""EMHNet assembled: shapes, gates, gradients, determinism, devices."""

from __future__ import annotations

import pytest
import torch

from emhnet_lite.constants import NUM_CLASSES, REGION_NAMES
from emhnet_lite.errors import ConfigError
from emhnet_lite.model import EMHNetConfig, build_model, canonical_boxes, count_flops, count_parameters

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(name: str = "emhnet_tiny", seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(name, **overrides)


def _flow(batch: int = 3, size: int = 28, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", [28, 56])
@pytest.mark.parametrize("name", ["emhnet_tiny", "emhnet"])
def test_output_and_aux_shapes(name, size):
    model = _model(name).eval()  # attention maps come with eval-mode aux (training uses fused attention)
    flow = _flow(2, size)
    logits, aux = model(flow, return_aux=True)
    scales = len(model.config.scales)
    assert logits.shape == (2, NUM_CLASSES)
    assert aux["region_weights"].shape == (2, len(REGION_NAMES))
    assert aux["scale_weights"].shape == (2, len(REGION_NAMES), scales)
    assert aux["aux_loss"].shape == ()
    tokens = aux["scale_index"].numel()
    assert aux["attention"]["expert_self"][0].shape == (2, 4, model.config.heads, tokens, tokens)
    assert aux["attention"]["cross_scale"].shape == (2, 4, model.config.heads, tokens, tokens)
    face = aux["face_grid"]
    assert aux["attention"]["global"][0].shape == (2, model.config.heads, face + 4, face + 4)
    assert aux["partition"].shape == (2, 4) and int(aux["partition"].max()) < scales
    assert torch.isfinite(logits).all()
    model.train()
    _, train_aux = model(flow, return_aux=True)
    assert train_aux["attention"]["expert_self"][0] is None  # no weights materialised in training


def test_token_count_follows_input_size():
    model = _model()
    _, aux28 = model(_flow(1, 28), return_aux=True)
    _, aux56 = model(_flow(1, 56), return_aux=True)
    assert aux28["scale_index"].numel() == 16 + 9 + 4  # 14 px crops at 4/5/7 px blocks (padded)
    assert aux56["scale_index"].numel() == 49 + 36 + 16  # 28 px crops
    assert aux28["face_grid"] == 16 and aux56["face_grid"] == 64


def test_gate_weights_sum_to_one_and_respond_to_input():
    model = _model()
    flow = _flow(4)
    flow[0] *= 5.0  # a strongly different motion magnitude
    _, aux = model(flow, return_aux=True)
    torch.testing.assert_close(aux["region_weights"].sum(-1), torch.ones(4))
    torch.testing.assert_close(aux["scale_weights"].sum(-1), torch.ones(4, 4))
    torch.testing.assert_close(aux["router_probs"].sum(-1), torch.ones(4, 4))
    assert (aux["region_weights"] > 0).all() and (aux["router_probs"] > 0).all()
    # per-sample routing: different samples get different weights at both levels
    assert (aux["region_weights"][0] - aux["region_weights"][1]).abs().max() > 1e-5
    assert (aux["router_probs"][0] - aux["router_probs"][1]).abs().max() > 1e-5


@pytest.mark.parametrize("name", ["emhnet_tiny", "emhnet"])
def test_every_parameter_gets_a_gradient(name):
    model = _model(name)
    logits, aux = model(_flow(4), return_aux=True)
    (logits.square().mean() + aux["aux_loss"]).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"parameters without gradient: {missing}"


def test_aux_loss_zero_when_disabled_and_positive_when_enabled():
    _, aux_off = _model(balance_weight=0.0)(_flow(), return_aux=True)
    assert aux_off["aux_loss"].item() == 0.0
    _, aux_on = _model()(_flow(), return_aux=True)
    assert aux_on["aux_loss"].item() > 0.0


def test_same_seed_same_output_different_seed_different_output():
    flow = _flow()
    torch.testing.assert_close(_model(seed=3)(flow), _model(seed=3)(flow), rtol=0, atol=0)
    assert not torch.allclose(_model(seed=3)(flow), _model(seed=4)(flow))


def test_forward_equals_head_of_features_and_boxes_matter():
    model = _model().eval()
    flow = _flow()
    torch.testing.assert_close(model(flow), model.forward_head(model.forward_features(flow)))
    canonical = canonical_boxes(28, 28, batch=3)
    torch.testing.assert_close(model(flow), model(flow, canonical))
    shifted = canonical.clone()
    shifted[0, :, [0, 2]] += 3.0  # move sample 0's boxes 3 px right
    out_default, out_shifted = model(flow), model(flow, shifted)
    assert not torch.allclose(out_default[0], out_shifted[0])
    torch.testing.assert_close(out_default[1:], out_shifted[1:])  # per-sample boxes


def test_bad_inputs_raise_clear_errors():
    model = _model()
    with pytest.raises(ValueError, match="flow"):
        model(torch.zeros(2, 2, 28, 28))
    with pytest.raises(ValueError, match="boxes"):
        model(_flow(2), torch.zeros(2, 3, 4))
    bad = canonical_boxes(28, 28, batch=2)
    bad[0, 0, 2] = bad[0, 0, 0]
    with pytest.raises(ValueError, match="x1 > x0"):
        model(_flow(2), bad)
    with pytest.raises(KeyError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ConfigError, match="unknown config field"):
        build_model("emhnet_tiny", width=3)
    with pytest.raises(ValueError, match="divisible"):
        EMHNetConfig(dim=30, heads=4)


def test_tiny_budget():
    model = _model()
    assert count_flops(model) <= 10_000_000
    assert count_parameters(model) < count_parameters(_model("emhnet"))


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_device_follows_the_input(device):
    model = _model().eval()
    flow = _flow()
    reference = model(flow)
    moved = model.to(device)
    out, aux = moved(flow.to(device), return_aux=True)
    assert out.device.type == device and aux["region_weights"].device.type == device
    torch.testing.assert_close(out.cpu(), reference, rtol=1e-4, atol=1e-5)
    if device == "cuda":
        with torch.autocast("cuda", dtype=torch.float16):
            amp_out, amp_aux = moved(flow.to(device), return_aux=True)
        assert torch.isfinite(amp_out).all()
        torch.testing.assert_close(amp_aux["region_weights"].sum(-1).float().cpu(), torch.ones(3))


def test_autocast_bfloat16_on_cpu_same_code_path():
    model = _model()
    flow = _flow()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, aux = model(flow, return_aux=True)
        loss = logits.float().sum() + aux["aux_loss"]
    loss.backward()
    assert torch.isfinite(logits.float()).all()
    torch.testing.assert_close(aux["region_weights"].sum(-1), torch.ones(3))  # gates stay float32
    torch.testing.assert_close(logits.float(), model(flow), atol=0.05, rtol=0.05)
