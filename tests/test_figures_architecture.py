"""The EMHNet architecture diagram is drawn from the model config: change the config, the labels follow."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from emhnet_lite.figures.architecture import architecture_figure, architecture_labels  # noqa: E402
from emhnet_lite.model import EMHNetConfig  # noqa: E402


def drawn_text(config: EMHNetConfig) -> list[str]:
    fig = architecture_figure(config)
    texts = [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)
    return texts


def test_tiny_preset_labels_come_from_the_built_model():
    labels = architecture_labels(EMHNetConfig.preset("tiny"))
    assert labels.regions == ("left eye\ncrop 14×14", "right eye\ncrop 14×14", "left lip\ncrop 14×14",
                              "right lip\ncrop 14×14")
    assert labels.partitioning == "blocks of 4, 5, 7 px\n16 + 9 + 4 = 29 tokens"
    assert labels.experts[0] == "expert 1: 1 block\nwidth 32, 2 heads"
    assert "16 face tokens (7 px)" in labels.global_transformer and "linear 32 → 3" in labels.head
    assert "49 + 16 + 4 = 69 tokens" in architecture_labels(EMHNetConfig.preset("paper")).partitioning
    assert "crop 28×28" in architecture_labels(EMHNetConfig.preset("tiny"), image_size=56).regions[0]


def test_changing_the_config_changes_the_drawing():
    base = drawn_text(EMHNetConfig.preset("tiny"))
    assert base.count("blocks of 4, 5, 7 px\n16 + 9 + 4 = 29 tokens") == 4  # one partitioning per region
    deeper = drawn_text(EMHNetConfig.preset("tiny", expert_depth=3, global_depth=2, dim=64))
    assert deeper.count("expert 2: 3 blocks\nwidth 64, 2 heads") == 1
    assert any(t.startswith("global transformer\n2 blocks") for t in deeper)
    fewer = drawn_text(EMHNetConfig.preset("tiny", num_regions=2, scales=(2, 7)))
    assert fewer.count("blocks of 2, 7 px\n49 + 4 = 53 tokens") == 2
    assert not any("left lip" in t for t in fewer) and any("+ 2 region tokens" in t for t in fewer)
    assert set(base) != set(deeper) != set(fewer)
