"""Pictures of preprocessing for the chapters: flow colour images, boxes drawn on faces, a sample browser."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from emhnet_lite.constants import REGION_NAMES
from emhnet_lite.dataset import PreparedSet

#: The kit's one region palette: an RGB colour (0–255) per region, in ``REGION_NAMES`` order, for every figure
#: and chapter (matplotlib takes ``region_rgb(i)``).
REGION_COLORS = ((230, 60, 60), (60, 120, 230), (240, 170, 30), (40, 170, 90))


def region_rgb(index: int) -> tuple[float, float, float]:
    """Region ``index``'s colour as matplotlib's 0–1 RGB."""
    red, green, blue = REGION_COLORS[index]
    return red / 255, green / 255, blue / 255


def flow_colour(flow_uv: np.ndarray | torch.Tensor, max_norm: float | None = None) -> np.ndarray:
    """[H, W, 2] or [2, H, W] (u, v) flow → RGB uint8 [H, W, 3] via ``torchvision.utils.flow_to_image``.

    ``max_norm`` fixes the colour scale (hue = direction, saturation = magnitude / max_norm) so several
    images can share one scale; by default torchvision normalizes by the image's own largest vector.
    """
    from torchvision.utils import flow_to_image

    flow = torch.as_tensor(np.asarray(flow_uv, dtype=np.float32))
    if flow.shape[-1] == 2 and flow.shape[0] != 2:
        flow = flow.permute(2, 0, 1)  # [2, H, W]
    if max_norm is not None:  # clamp to max_norm, then add one reference column so torchvision divides by it
        norm = torch.linalg.vector_norm(flow, dim=0, keepdim=True)  # [1, H, W]
        flow = flow * torch.clamp(max_norm / norm.clamp_min(1e-12), max=1.0)
        reference = torch.zeros(2, flow.shape[1], 1)
        reference[0] = max_norm
        return flow_to_image(torch.cat([flow, reference], dim=2)).permute(1, 2, 0).numpy()[:, :-1]
    return flow_to_image(flow).permute(1, 2, 0).numpy()  # [H, W, 3]


def draw_boxes(image: np.ndarray, boxes: np.ndarray | torch.Tensor, scale: float = 1.0,
               thickness: int = 1) -> np.ndarray:
    """RGB copy of ``image`` (grey or RGB uint8) with the four region boxes (x0, y0, x1, y1)·scale drawn."""
    canvas = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    canvas = np.ascontiguousarray(canvas.copy())
    for box, colour in zip(np.asarray(boxes, dtype=np.float32), REGION_COLORS, strict=True):
        x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), colour, thickness)  # half-open → inclusive corner
    return canvas


def sample_picture(prepared: PreparedSet, index: int, zoom: int = 8) -> np.ndarray:
    """RGB [size·zoom, 2·size·zoom, 3]: the sample's flow colour image and strain, both with its boxes."""
    flow = prepared.flows[index]  # [3, H, W]
    size = flow.shape[-1]
    colour = flow_colour(flow[:2])
    strain = flow[2].numpy()
    strain_grey = np.clip(strain / max(float(strain.max()), 1e-6) * 255, 0, 255).astype(np.uint8)
    panels = []
    for panel in (colour, cv2.cvtColor(strain_grey, cv2.COLOR_GRAY2RGB)):
        big = cv2.resize(panel, (size * zoom, size * zoom), interpolation=cv2.INTER_NEAREST)
        panels.append(draw_boxes(big, prepared.boxes[index], scale=zoom, thickness=2))
    return np.concatenate(panels, axis=1)


def sample_browser(prepared: PreparedSet, zoom: int = 8):
    """An ipywidgets slider stepping through a ``PreparedSet``: flow colour + strain with the four boxes."""
    import ipywidgets as widgets

    from emhnet_lite.constants import CLASS_NAMES

    picture = widgets.Image(format="png")
    caption = widgets.HTML()
    slider = widgets.IntSlider(value=0, min=0, max=len(prepared) - 1, description="sample")
    legend = " ".join(f"<span style='color:rgb{c}'>■ {n}</span>" for n, c in zip(REGION_NAMES, REGION_COLORS,
                                                                                 strict=True))

    def show(change=None) -> None:
        row = prepared.table.iloc[slider.value]
        ok, png = cv2.imencode(".png", cv2.cvtColor(sample_picture(prepared, slider.value, zoom), cv2.COLOR_RGB2BGR))
        picture.value = png.tobytes() if ok else b""
        caption.value = (f"<b>{row['dataset']}/{row['subject']}/{row['clip']}</b> — "
                         f"{CLASS_NAMES[int(prepared.labels[slider.value])]} ({row['emotion']}), "
                         f"apex {row['prepared_apex']} ({row['apex_source']}) — landmarks: {row['landmark_source']}"
                         f"<br>left: flow (hue = direction), right: strain. {legend}")

    slider.observe(show, names="value")
    show()
    return widgets.VBox([caption, picture, slider])
