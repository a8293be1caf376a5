"""EMHNet's switchable parts: named ablations, per-sample partitions, the level-2 gate that acts, region counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emhnet_lite.model import ABLATIONS, build_model, count_parameters
from emhnet_lite.model.benchmark import ablation_names, cost_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REQUIRED = ("full", "no_router", "no_cross_scale", "no_region_gate", "no_global", "single_scale", "no_regions")


def _model(name: str = "emhnet_tiny", seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return build_model(name, **kwargs)


def _flow(batch: int = 4, size: int = 28, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _train_step(model: torch.nn.Module, flow: torch.Tensor, boxes: torch.Tensor | None = None) -> None:
    """One AdamW step on cross-entropy + aux loss; every parameter must receive a finite gradient."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    logits, aux = model(flow, boxes, return_aux=True)
    (F.cross_entropy(logits, torch.arange(len(flow)) % 3) + aux["aux_loss"]).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a gradient: {missing}"
    optimizer.step()


@pytest.mark.parametrize("ablation", list(ABLATIONS))
@pytest.mark.parametrize("name", ["emhnet_tiny", "emhnet"])
def test_every_ablation_builds_trains_a_step_and_counts(name, ablation):
    model = _model(name, ablation=ablation)
    _train_step(model, _flow(3))
    assert count_parameters(model) > 0
    full = count_parameters(_model(name))
    assert (count_parameters(model) == full) == (ablation in ("full", "soft_router"))


def test_required_ablations_and_what_they_switch_off():
    assert set(REQUIRED) <= set(ABLATIONS) and ABLATIONS["full"] == {}
    assert _model(ablation="no_router").router is None
    assert _model(ablation="no_cross_scale").experts.cross_scale is None
    assert _model(ablation="no_region_gate").gate.region_score is None
    no_global = _model(ablation="no_global")
    assert len(no_global.global_blocks) == 0 and not any("global" in n for n, _ in no_global.named_parameters())
    single = _model(ablation="single_scale")
    assert single.config.scales == (4,) and single.router is None and single.experts.cross_scale is None
    no_regions = _model(ablation="no_regions")
    assert not hasattr(no_regions, "experts") and not hasattr(no_regions, "gate")
    _, aux = no_regions.eval()(_flow(2), return_aux=True)
    assert "region_weights" not in aux and float(aux["aux_loss"]) == 0.0


def test_ablation_errors_name_the_problem():
    with pytest.raises(KeyError, match="unknown ablation"):
        build_model("emhnet_tiny", ablation="no_such_part")
    with pytest.raises(KeyError, match="EMHNet models only"):
        build_model("htnet", ablation="no_router")
    # an explicit override wins over the ablation's
    assert _model(ablation="single_scale", scales=(7,)).config.scales == (7,)


@pytest.mark.parametrize("scales", [(4,), (7,), (2,)])
def test_single_scale_configs_work(scales):
    model = _model(scales=scales)
    _train_step(model, _flow(2))
    model.eval()
    _, aux = model(_flow(2), return_aux=True)
    assert aux["scale_weights"].shape == (2, 4, 1) and "partition" not in aux


@pytest.mark.parametrize("regions", [1, 2, 3, 6])
def test_num_regions_other_than_four(regions):
    model = _model(num_regions=regions)
    boxes = torch.tensor([[2.0, 3.0, 14.0, 15.0]]).repeat(2, regions, 1)  # [2, R, 4]
    _train_step(model, _flow(2), boxes)
    model.eval()
    _, aux = model(_flow(2), boxes, return_aux=True)
    assert aux["region_weights"].shape == (2, regions) and aux["partition"].shape == (2, regions)
    if regions <= 4:  # fewer experts use the first R regions of the data's four boxes / the canonical layout
        model(_flow(2), torch.tensor([[2.0, 3.0, 14.0, 15.0]]).repeat(2, 4, 1))
        model(_flow(2))
    else:
        with pytest.raises(ValueError, match="needs boxes"):
            model(_flow(2))


def test_global_depth_zero_removes_the_global_transformer():
    from emhnet_lite.model.layers import ExpertBlock

    model = _model(global_depth=0)
    assert len(model.global_blocks) == 0
    blocks = [name for name, module in model.named_modules() if isinstance(module, ExpertBlock)]
    assert blocks and all(name.startswith("experts.") for name in blocks), blocks  # only the experts' blocks
    model.eval()
    _, aux = model(_flow(3), return_aux=True)
    assert aux["attention"]["global"] == []
    _train_step(model.train(), _flow(3))


def test_partitions_differ_between_inputs():
    model = _model().eval()
    flow = torch.cat([_flow(16, seed=1), 0.1 * _flow(16, seed=2), 3 * _flow(16, seed=3)])
    with torch.no_grad():
        _, aux = model(flow, return_aux=True)
    partition = aux["partition"]  # [B, R] index into config.scales
    assert partition.shape == (48, 4) and partition.dtype == torch.long
    assert max(len(partition[:, r].unique()) for r in range(4)) >= 2, "every sample got the same partition"
    # hard choice: the level-1 weights are one-hot at inference and name the same partition
    assert torch.equal(aux["scale_weights"].amax(-1), torch.ones(48, 4))
    assert torch.equal(aux["scale_weights"].argmax(-1), partition)


def test_hard_choice_is_straight_through_in_training():
    model = _model().train()
    _, aux = model(_flow(4), return_aux=True)
    torch.testing.assert_close(aux["scale_weights"].detach(), F.one_hot(aux["scale_weights"].argmax(-1), 3).float())
    assert aux["router_probs"].requires_grad
    aux["scale_weights"][..., 0].sum().backward()  # the hard weights carry the soft probabilities' gradient
    assert model.router.out.weight.grad.abs().sum() > 0


def _bumps(n: int, sigma: float, generator: torch.Generator, size: int = 28) -> torch.Tensor:
    """n flows [n, 3, size, size] holding one Gaussian motion bump of width sigma at a random place."""
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    centre = 4 + torch.rand(n, 2, generator=generator) * (size - 8)
    amplitude = 0.3 + 2 * torch.rand(n, 1, 1, generator=generator)
    bump = torch.exp(-((xs - centre[:, 0, None, None]) ** 2 + (ys - centre[:, 1, None, None]) ** 2)
                     / (2 * sigma**2)) * amplitude
    angle = torch.rand(n, 1, 1, generator=generator) * 2 * torch.pi
    return torch.stack([bump * angle.cos(), bump * angle.sin(), bump], dim=1)


@pytest.mark.slow
def test_trained_toy_task_uses_the_partitions():
    """Local (σ 1 px) vs broad (σ 4 px) motion: after training, the chosen partitions depend on the class and
    forcing one partition on every sample changes the predictions (the model relies on its choices)."""
    generator = torch.Generator().manual_seed(0)

    def toy(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        flows = torch.cat([_bumps(n, 1.0, generator), _bumps(n, 4.0, generator)])
        return flows, torch.cat([torch.zeros(n), torch.ones(n)]).long()

    train_x, train_y = toy(128)
    test_x, test_y = toy(64)
    boxes = torch.tensor([[0.0, 0, 14, 14], [14, 0, 28, 14], [0, 14, 14, 28], [14, 14, 28, 28]])
    model = _model(num_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        index = torch.randint(0, len(train_x), (64,), generator=generator)
        logits, aux = model(train_x[index], boxes.expand(64, -1, -1), return_aux=True)
        loss = F.cross_entropy(logits, train_y[index]) + 0.1 * aux["aux_loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits, aux = model(test_x, boxes.expand(len(test_x), -1, -1), return_aux=True)
        accuracy = float((logits.argmax(1) == test_y).float().mean())
        partition = aux["partition"].float()  # [B, R]
        gap = (partition[test_y == 1].mean(0) - partition[test_y == 0].mean(0)).abs().max()
        forced = []
        for scale in range(len(model.config.scales)):
            model.gate.partition_override = scale
            forced.append(float((model(test_x, boxes.expand(len(test_x), -1, -1)).argmax(1) == test_y).float().mean()))
        model.gate.partition_override = None
    assert accuracy >= 0.85
    assert gap >= 0.25, f"partitions do not depend on the kind of motion (largest class gap {gap:.2f})"
    assert min(forced) <= accuracy - 0.1, f"forcing one partition never hurts: {forced} vs {accuracy}"


def _region_output(model, flow, boxes):
    with torch.no_grad():
        return model(flow, boxes)


@pytest.mark.parametrize("ablation", ["full", "no_global", "no_region_gate"])
def test_zero_region_weight_makes_output_invariant_to_that_region(ablation):
    model = _model(ablation=ablation, global_depth=2) if ablation != "no_global" else _model(ablation=ablation)
    model.eval()
    flow = _flow(3)
    boxes = torch.tensor([[2.0, 3.0, 12.0, 13.0], [15.0, 3.0, 25.0, 13.0], [4.0, 16.0, 11.0, 23.0],
                          [17.0, 16.0, 24.0, 23.0]]).repeat(3, 1, 1)
    moved = boxes.clone()
    moved[:, 0] = torch.tensor([8.0, 10.0, 20.0, 22.0])  # region 0 now sees other pixels
    model.gate.region_weight_override = torch.tensor([0.0, 1 / 3, 1 / 3, 1 / 3])
    torch.testing.assert_close(_region_output(model, flow, boxes), _region_output(model, flow, moved),
                               rtol=0, atol=1e-6)
    model.gate.region_weight_override = torch.full((4,), 0.25)  # control: a weighted region does matter
    assert (_region_output(model, flow, boxes) - _region_output(model, flow, moved)).abs().max() > 1e-4


def test_region_weights_act_on_the_output():
    """Doubling one region's weight (the rest renormalised) moves the output by much more than the old gate
    did (~2% of the pooled features)."""
    model = _model().eval()
    flow = _flow(8)
    with torch.no_grad():
        base = model.forward_features(flow)
        model.gate.region_weight_override = torch.tensor([0.55, 0.15, 0.15, 0.15])
        shifted = model.forward_features(flow)
        model.gate.region_weight_override = None
    assert float((shifted - base).norm(dim=-1).mean() / base.norm(dim=-1).mean()) > 0.05


def test_ablation_rows_in_the_cost_table():
    names = ablation_names("emhnet_tiny")
    assert len(names) == len(ABLATIONS) - 1 and all(n.startswith("emhnet_tiny:") for n in names)
    rows = {row.name: row for row in cost_table(["emhnet_tiny"] + names, timing=False)}
    assert rows["emhnet_tiny:no_regions"].parameters < rows["emhnet_tiny:no_router"].parameters
    assert rows["emhnet_tiny:single_scale"].flops_per_sample < rows["emhnet_tiny"].flops_per_sample


def test_gumbel_option_explores_in_training_and_is_deterministic_at_inference():
    model = _model(gumbel=True)
    flow = _flow(16)
    torch.manual_seed(1)
    first = model(flow, return_aux=True)[1]["scale_weights"].argmax(-1)
    second = model(flow, return_aux=True)[1]["scale_weights"].argmax(-1)
    assert not torch.equal(first, second), "Gumbel noise should vary the training-time choices"
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(flow, return_aux=True)[1]["partition"], model(flow, return_aux=True)[1]["partition"])
    # the default (no noise) is deterministic in training too: a seed fixes the choices
    plain = _model().train()
    assert torch.equal(plain(flow, return_aux=True)[1]["scale_weights"], plain(flow, return_aux=True)[1]["scale_weights"])


@pytest.mark.parametrize("name", ["emhnet_tiny", "emhnet"])
def test_fused_and_explicit_attention_paths_agree(name):
    """Eval-mode forward with aux (explicit softmax, weights kept) = plain forward (fused SDPA, one call per scale)."""
    model = _model(name).eval()
    flow = _flow(3)
    with torch.no_grad():
        fused = model(flow)
        explicit, aux = model(flow, return_aux=True)
    assert aux["attention"]["expert_self"][0] is not None
    torch.testing.assert_close(fused, explicit, rtol=1e-4, atol=1e-5)
