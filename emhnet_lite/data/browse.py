"""A small ipywidgets clip browser: a frame slider over one clip with onset, apex and offset marked."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

MARK_COLORS = {"onset": (40, 160, 40), "apex": (220, 40, 40), "offset": (40, 90, 220)}  # RGB


def clip_frames(row) -> list[int]:
    """Frame numbers of a composite-table row, onset..offset inclusive."""
    return list(range(int(row["onset"]), int(row["offset"]) + 1))


def frame_marks(row) -> dict[int, str]:
    """Frame number -> ``onset`` / ``apex`` / ``offset`` (apex wins when two coincide)."""
    marks = {int(row["onset"]): "onset", int(row["offset"]): "offset"}
    marks[int(row["apex"])] = "apex"
    return marks


def render_frame(row, frame: int, scale: int = 2) -> np.ndarray:
    """One frame as RGB uint8 ``[H', W', 3]``, enlarged, with a timeline strip marking onset/apex/offset."""
    path = Path(row["frame_dir"]) / row["frame_template"].format(frame=int(frame))
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read frame {path}")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    height, width = image.shape[:2]
    strip = np.full((28, width, 3), 245, np.uint8)
    onset, offset = int(row["onset"]), int(row["offset"])

    def to_x(n: int) -> int:
        return int(round(6 + (width - 12) * (n - onset) / max(offset - onset, 1)))

    cv2.line(strip, (6, 14), (width - 6, 14), (150, 150, 150), 1)
    for number, name in frame_marks(row).items():
        cv2.line(strip, (to_x(number), 4), (to_x(number), 24), MARK_COLORS[name], 2)
    cv2.circle(strip, (to_x(int(frame)), 14), 5, (0, 0, 0), -1)
    mark = frame_marks(row).get(int(frame))
    if mark:
        cv2.rectangle(image, (0, 0), (width - 1, height - 1), MARK_COLORS[mark], 4)
    return np.concatenate([image, strip], axis=0)


def clip_browser(row, scale: int = 2):
    """A slider over the clip's frames showing each frame, its number and whether it is onset/apex/offset."""
    import ipywidgets as widgets

    frames = clip_frames(row)
    picture = widgets.Image(format="png")
    caption = widgets.HTML()
    slider = widgets.IntSlider(value=int(row["apex"]), min=frames[0], max=frames[-1], step=1,
                               description="frame", continuous_update=True)

    def show(change=None) -> None:
        frame = slider.value
        rgb = render_frame(row, frame, scale)
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        picture.value = png.tobytes() if ok else b""
        mark = frame_marks(row).get(frame, "")
        caption.value = (f"<b>{row['dataset']}/{row['subject']}/{row['clip']}</b> ({row['emotion']}) — frame "
                         f"{frame} of {frames[0]}–{frames[-1]}"
                         + (f" — <b style='color:rgb{MARK_COLORS[mark]}'>{mark}</b>" if mark else "")
                         + f" — apex: {row['apex_source']}")

    slider.observe(show, names="value")
    jump = widgets.ToggleButtons(options=[("onset", int(row["onset"])), ("apex", int(row["apex"])),
                                          ("offset", int(row["offset"]))], value=int(row["apex"]))
    jump.observe(lambda change: setattr(slider, "value", change["new"]), names="value")
    show()
    return widgets.VBox([caption, picture, widgets.HBox([slider, jump])])
