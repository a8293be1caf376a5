"""Chapter 01's SynthME 2 gallery: one figure per nuisance family, ``easy`` beside ``real``.

Each function draws from the generator's own code (no copies), on one small face, and returns a
matplotlib figure; the chapter saves them to ``figures/`` and interprets them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emhnet_lite.constants import DATASETS
from emhnet_lite.preprocess.regions import region_centres
from emhnet_lite.synth.config import SynthConfig
from emhnet_lite.synth.faces import render_face, sample_face
from emhnet_lite.synth.identity import dress_face
from emhnet_lite.synth.layout import SPECS
from emhnet_lite.synth.motion import au_field, intensity_profile
from emhnet_lite.synth.realism import (
    Nuisance,
    RigidMotion,
    control_bumps,
    draw_nuisance,
    draw_timing,
    raised_cosine,
    shading_gain,
    shading_planes,
)

REAL = SynthConfig.preset("real")


def _face(seed: int = 3, width: int = 168, height: int = 196):
    """A subject's geometry, its ``easy`` rendering and its ``real`` rendering (same landmarks)."""
    face = sample_face(np.random.default_rng([seed, 1]), width, height)
    easy = render_face(face, np.random.default_rng([seed, 2]))
    dressed = dress_face(face, np.random.default_rng([seed, 2]), 0.0, REAL.relief, True)
    return face, easy, dressed.image


def timing_figure(seed: int = 0) -> plt.Figure:
    """Expression intensity against time: ``easy`` counts frames (the same 18-26 frames at 200 and 100 fps),
    ``real`` draws milliseconds, so a 100 fps clip has half the frames of a 200 fps one."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
    for ax, level in zip(axes, ("easy", "real"), strict=True):
        for dataset, colour in (("casme2", "tab:red"), ("smic", "tab:blue")):
            fps = SPECS[dataset].fps
            if level == "easy":
                length = int(rng.integers(*SPECS[dataset].frames))
                onset, offset = 0, length - 1
                apex = int(round(0.45 * offset))
            else:
                t = draw_timing(rng, dataset, fps, 0, 0.0, 1)
                onset, apex, offset = t["onset"], t["true_apex"], t["offset"]
            frames = np.arange(onset, offset + 1)
            values = [intensity_profile(f, onset, apex, offset) for f in frames]
            ax.plot(frames * 1000 / fps, values, "o-", ms=3, color=colour,
                    label=f"{dataset} {fps} fps: {len(frames)} frames, {(offset - onset) * 1000 / fps:.0f} ms")
        ax.set(title=f"{level}: onset → apex → offset", xlabel="time (ms)")
        ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel("expression intensity")
    fig.tight_layout()
    return fig


def head_motion_figure(seed: int = 1, seconds: float = 0.15) -> plt.Figure:
    """Head motion between onset and apex, left after median-flow subtraction: ``easy``'s pure translation
    vanishes, ``real``'s roll/scale/perspective drift does not."""
    face, easy_image, real_image = _face()
    centre = face.landmarks.mean(0)
    easy = Nuisance(np.array([4.0, -3.0, 0, 0, 0, 0]), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0))
    real = draw_nuisance(np.random.default_rng(seed), 1.0, 0.0, 300.0, 0, True, 0.0, 0.0, 2.0)
    real = replace(real, rigid=real.rigid * 2.5)  # a strong draw, so the pattern is visible
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    axes[0].imshow(real_image.astype(np.uint8))
    axes[0].set_title("the face (real rendering)")
    for ax, (name, nuisance) in zip(axes[1:], (("easy: translation", easy), ("real: roll, scale, yaw/pitch", real)),
                                    strict=True):
        field = RigidMotion(nuisance, centre, face.width, face.height).displacement(seconds)  # [H, W, 2]
        residual = np.linalg.norm(field - np.median(field.reshape(-1, 2), 0), axis=-1)
        shown = ax.imshow(residual, cmap="magma", vmin=0, vmax=max(1.0, float(residual.max())))
        ax.set_title(f"{name}\nleft after median subtraction (max {residual.max():.2f} px)", fontsize=9)
        fig.colorbar(shown, ax=ax, fraction=0.046, label="px")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def illumination_figure(seconds: float = 0.3) -> plt.Figure:
    """Lighting change between onset and a later frame: ``easy``'s global flicker scales the whole frame,
    ``real``'s turning shading gradient changes one side of the face more than the other."""
    face, _, image = _face()
    planes = shading_planes(face.landmarks, face.width, face.height)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    nuisance = Nuisance(np.zeros(6), (0.0, 1.0, 0.0), (REAL.illumination, 0.4, 2.5))
    easy_change = grey * 0.012  # easy's largest flicker: 1.2% of every pixel
    real_change = grey * (shading_gain(nuisance, seconds, planes) - shading_gain(nuisance, 0.0, planes))
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.8))
    for ax, (name, change) in zip(axes, (("easy: global flicker", easy_change),
                                         ("real: moving shading gradient", real_change)), strict=True):
        shown = ax.imshow(change, cmap="coolwarm", vmin=-4, vmax=4)
        ax.set_title(f"{name}\nframe − onset frame (grey levels)", fontsize=9)
        ax.axis("off")
    fig.colorbar(shown, ax=axes, fraction=0.03)
    return fig


def sensor_figure(easy_table: pd.DataFrame, real_table: pd.DataFrame) -> plt.Figure:
    """Onset frames of each dataset as the readers load them: ``easy`` (one canvas style) and ``real``
    (CASME II colour JPEG, SAMM grey and larger, SMIC small, blurred and noisy)."""
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.6))
    for row, (level, table) in enumerate((("easy", easy_table), ("real", real_table))):
        for col, dataset in enumerate(DATASETS):
            clip = table[table["dataset"] == dataset].iloc[0]
            path = Path(clip["frame_dir"]) / clip["frame_template"].format(frame=int(clip["onset"]))
            frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else frame
            axes[row, col].imshow(frame, cmap="gray", vmin=0, vmax=255)
            axes[row, col].set_title(f"{level} · {dataset} · {frame.shape[1]}×{frame.shape[0]}", fontsize=9)
            axes[row, col].axis("off")
    fig.tight_layout()
    return fig


def distractor_figure(seed: int = 21) -> plt.Figure:
    """What moves during one ``real`` clip besides the expression: distractor AUs on their own time
    course, speech-like mouth motion and a blink, overlapping onset and apex."""
    rng = np.random.default_rng(seed)
    clip_ms, onset, apex, offset = 420.0, 40.0, 170.0, 380.0
    nuisance = draw_nuisance(rng, 1.0, 0.03, clip_ms, 2, True, speech=1.0, blink_rate=1e5, peak=2.0)
    times = np.arange(0, clip_ms, 5.0)  # 200 fps
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(times, [raised_cosine(t, onset, apex, offset) for t in times], lw=2.5, label="expression (class)")
    for k, span in enumerate(nuisance.distractor_times):
        ax.plot(times, [raised_cosine(t, *span) for t in times], "--", label=f"distractor AU {k + 1}")
    amp, hz, phase = nuisance.speech
    ax.plot(times, 0.5 - 0.5 * np.cos(2 * np.pi * hz * times / 1000 + phase), ":", label=f"speech-like mouth, {hz:.1f} Hz")
    ax.plot(times, np.exp(-((times - nuisance.blink_ms) ** 2) / (2 * nuisance.blink_width_ms ** 2)), "-.",
            label="blink")
    ax.axvline(apex, color="k", lw=0.8)
    ax.set(xlabel="time (ms)", ylabel="intensity (each at its own peak)", title="one real clip: what else moves")
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    fig.tight_layout()
    return fig


def identity_figure(seeds: tuple[int, ...] = (0, 5, 7, 11, 21, 29)) -> plt.Figure:
    """Subjects at ``easy`` (top) and at ``real`` (bottom): proportions, relief, age lines, glasses, fringes."""
    fig, axes = plt.subplots(2, len(seeds), figsize=(1.9 * len(seeds), 4.6))
    for col, seed in enumerate(seeds):
        face = sample_face(np.random.default_rng([seed, 1]), 168, 196)
        easy = render_face(face, np.random.default_rng([seed, 2]))
        real = dress_face(face, np.random.default_rng([seed, 2]), 1.0, REAL.relief, True)
        axes[0, col].imshow(np.clip(easy, 0, 255).astype(np.uint8))
        axes[1, col].imshow(np.clip(real.image, 0, 255).astype(np.uint8))
        axes[1, col].set_title(real.traits, fontsize=7)
        for ax in axes[:, col]:
            ax.axis("off")
    axes[0, 0].set_title("easy", fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def region_control_figure(recipe: tuple[int, ...] = (6, 12)) -> plt.Figure:
    """Where a class's motion is: at the region centres (``real``) or between them (``region_control``)."""
    face, _, image = _face()
    centres = region_centres(face.landmarks)
    aus = [(au, "", 2.0) for au in recipe]
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 4))
    for ax, (name, table) in zip(axes, (("real", None), ("real + region_control", control_bumps())), strict=True):
        magnitude = np.linalg.norm(au_field(face.landmarks, (face.height, face.width), aus, table), axis=-1)
        ax.imshow(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cmap="gray")
        ax.imshow(np.ma.masked_less(magnitude, 0.1), cmap="autumn", alpha=0.7)
        ax.scatter(centres[:, 0], centres[:, 1], marker="+", s=120, c="cyan", label="region centres")
        ax.set_title(f"{name}: AU {'+'.join(map(str, recipe))} motion", fontsize=9)
        ax.axis("off")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
