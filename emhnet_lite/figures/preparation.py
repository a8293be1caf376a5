"""One clip through preprocessing as a single picture (chapter 01): landmarks, aligned crops, flow, strain."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from emhnet_lite.preprocess.pipeline import PreparedSample
from emhnet_lite.preprocess.view import draw_boxes, flow_colour


def preparation_figure(sample: PreparedSample, title: str) -> Figure:
    """Onset frame + 68 landmarks, aligned onset and apex crops, onset→apex flow colour, optical strain, and the
    model input (flow colour of the resized input) with the four region boxes.

    ``sample`` must come from ``prepare_sample(..., keep_steps=True)``.
    """
    steps = sample.steps
    if not steps:
        raise ValueError("preparation_figure needs prepare_sample(..., keep_steps=True)")
    fig = Figure(figsize=(15, 3.3), layout="constrained")
    axes = fig.subplots(1, 6)
    points = steps["landmarks_frame"]  # [68, 2] (x, y) at native resolution
    axes[0].imshow(steps["onset_frame"], cmap="gray")
    axes[0].scatter(points[:, 0], points[:, 1], s=4, c="#ffcc00")
    axes[0].set_title(f"onset {sample.info['onset']} + landmarks ({sample.info['landmark_source']})", fontsize=10)
    axes[1].imshow(steps["onset_crop"], cmap="gray")
    axes[1].set_title("aligned onset", fontsize=10)
    axes[2].imshow(steps["apex_crop"], cmap="gray")
    axes[2].set_title(f"aligned apex {sample.info['apex']}", fontsize=10)
    flow = steps["flow_crop"]  # [crop, crop, 2] px, head drift removed
    axes[3].imshow(flow_colour(flow))
    axes[3].set_title(f"flow (max {np.linalg.norm(flow, axis=-1).max():.1f} px)", fontsize=10)
    image = axes[4].imshow(steps["strain_crop"], cmap="magma")
    axes[4].set_title("optical strain", fontsize=10)
    fig.colorbar(image, ax=axes[4], fraction=0.046)
    zoom = 8
    model_input = np.kron(flow_colour(sample.flow[:2]), np.ones((zoom, zoom, 1), np.uint8))  # nearest, x8
    axes[5].imshow(draw_boxes(model_input, sample.boxes, scale=zoom, thickness=2))
    axes[5].set_title(f"model input {sample.flow.shape[-1]}×{sample.flow.shape[-1]} + regions", fontsize=10)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    return fig
