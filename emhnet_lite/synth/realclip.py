"""Render one SynthME 2 clip (any difficulty but ``easy``): time in ms, head pose, shading, sensor domain.

A frame is the subject's image warped backwards by ``D_t(y) = (y - T_t^-1(y)) + m(y) * L_t(y)``: the head
pose homography ``T_t`` plus the local facial motion ``L_t`` (expression, distractors, speech-like mouth
motion, blink), switched off under occluders by ``m = 1 - occluder``. The ground-truth onset -> apex flow
is computed from ``D`` exactly as for ``easy`` (``motion.ground_truth_flow``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from emhnet_lite.synth.identity import Dressed
from emhnet_lite.synth.layout import ClipPlan
from emhnet_lite.synth.motion import (
    ClipMotion,
    au_field,
    blink_field,
    clip_truth,
    sample_motion,
)
from emhnet_lite.synth.realism import (
    REFERENCE_WIDTH,
    Nuisance,
    RigidMotion,
    control_bumps,
    draw_nuisance,
    raised_cosine,
    shading_gain,
    shading_planes,
    shared_recipe,
    speech_field,
)

if TYPE_CHECKING:
    from emhnet_lite.synth.generate import SynthConfig
    from emhnet_lite.synth.realism import NoiseBank

FLICKER_PERIOD_MS = 35.0  # easy's flicker period (7 frames at 200 fps), kept in time units


def render_real_clip(plan: ClipPlan, subject: Dressed, habit: int, fps: int, color: bool, noise: NoiseBank,
                     noise_range: tuple[float, float], blur: float, rng: np.random.Generator,
                     config: SynthConfig) -> tuple[list[np.ndarray], dict[str, np.ndarray], ClipMotion, dict]:
    """Frames (uint8), ground-truth arrays, the clip's motion and extra index columns of one clip."""
    face, base = subject.face, subject.image
    shape = (face.height, face.width)
    count = plan.last_frame - plan.first_frame + 1
    ms_per_frame = 1000.0 / fps
    clip_ms = (count - 1) * ms_per_frame
    shown, recipe = shared_recipe(rng, plan.emotion, plan.label, config.ambiguity, config.label_noise)
    amplitude = config.amplitude_scale(face.width if config.sensor_domains else REFERENCE_WIDTH)
    motion = sample_motion(rng, shown, amplitude, count, habit, recipe)
    nuisance = draw_nuisance(rng, config.head_motion, config.illumination, clip_ms, len(motion.distractors),
                             config.distractor_timing, config.speech, config.blink_rate,
                             max(a for _, _, a in motion.aus))
    sigma = float(rng.uniform(*noise_range)) if config.sensor_domains else motion.noise_sigma

    table = control_bumps() if config.region_control else None
    expression = au_field(face.landmarks, shape, motion.aus, table)
    distractors = [au_field(face.landmarks, shape, [d]) for d in motion.distractors]
    mouth = speech_field(face.landmarks, shape) if nuisance.speech is not None else None
    blink = blink_field(face.landmarks, shape)
    use_blink = nuisance.blink_ms is not None or (config.blink_rate == 0 and motion.blink_frame is not None)
    visible = None if subject.occluder is None else (1.0 - subject.occluder)[..., None]
    rigid = RigidMotion(nuisance, face.landmarks.mean(0), face.width, face.height) if config.head_motion else None
    planes = shading_planes(face.landmarks, face.width, face.height) if config.illumination else None
    onset_ms, apex_ms, offset_ms = ((f - plan.first_frame) * ms_per_frame
                                    for f in (plan.onset, plan.true_apex, plan.offset))
    if not color:
        base = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)
    grid_y, grid_x = np.mgrid[0:face.height, 0:face.width].astype(np.float32)

    def local(t: float) -> np.ndarray:
        field_xy = expression * raised_cosine(t, onset_ms, apex_ms, offset_ms)
        for distractor, times in zip(distractors, nuisance.distractor_times, strict=True):
            weight = raised_cosine(t, onset_ms, apex_ms, offset_ms) if np.isnan(times[0]) else raised_cosine(t, *times)
            field_xy = field_xy + distractor * weight
        if mouth is not None:
            amp, hz, phase = nuisance.speech
            field_xy = field_xy + mouth * (amp * (0.5 - 0.5 * np.cos(2 * np.pi * hz * t / 1000 + phase)))
        if use_blink:
            centre, width = _blink_timing(nuisance, motion, ms_per_frame)
            field_xy = field_xy + blink * float(np.exp(-((t - centre) ** 2) / (2 * width ** 2)))
        field_xy = field_xy if visible is None else field_xy * visible
        return field_xy.astype(np.float32, copy=False)

    def displacement(frame: int) -> np.ndarray:
        t = (frame - plan.first_frame) * ms_per_frame
        field_xy = local(t)
        if rigid is not None:
            field_xy = field_xy + rigid.displacement(t / 1000)
        return field_xy.astype(np.float32)

    frames = []
    for frame in range(plan.first_frame, plan.last_frame + 1):
        t = (frame - plan.first_frame) * ms_per_frame
        field_xy = local(t)  # frame(y) = base(T^-1(y) - L(y)): no full D needed to render
        source_x, source_y = rigid.source(t / 1000) if rigid is not None else (grid_x, grid_y)
        warped = cv2.remap(base, source_x - field_xy[..., 0], source_y - field_xy[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT101)
        gain = 1 + motion.flicker_amplitude * np.sin(2 * np.pi * t / FLICKER_PERIOD_MS + motion.flicker_phase)
        if planes is not None:
            gain = gain * shading_gain(nuisance, t / 1000, planes)
            gain = gain[..., None] if warped.ndim == 3 else gain
        if blur > 0:
            warped = cv2.GaussianBlur(warped, (0, 0), blur)
        noisy = warped * gain + noise.sample(rng) * np.float32(sigma)
        frames.append(np.clip(noisy + 0.5, 0, 255).astype(np.uint8))
    onset_field, apex_field = displacement(plan.onset), displacement(plan.true_apex)
    truth = clip_truth(onset_field, apex_field, face.landmarks, (plan.onset, plan.true_apex, plan.offset))
    blink_frame = None
    if use_blink:
        blink_frame = plan.first_frame + int(round(_blink_timing(nuisance, motion, ms_per_frame)[0] / ms_per_frame))
    return frames, truth, motion, _extras(nuisance, shown, sigma, subject, rigid, apex_ms, blink_frame)


def _blink_timing(nuisance: Nuisance, motion: ClipMotion, ms_per_frame: float) -> tuple[float, float]:
    """Blink centre and temporal sd (ms): SynthME 2's rate-based blink, or easy's per-clip blink."""
    if nuisance.blink_ms is not None:
        return nuisance.blink_ms, nuisance.blink_width_ms
    return motion.blink_frame * ms_per_frame, motion.blink_width * ms_per_frame


def _extras(nuisance: Nuisance, shown: str, sigma: float, subject: Dressed, rigid: RigidMotion | None,
            apex_ms: float, blink_frame: int | None) -> dict:
    """Index columns that only SynthME 2 writes: what the face shows, pose at the apex, nuisances."""
    tx = ty = roll = scale = yaw = pitch = 0.0
    if rigid is not None:
        tx, ty, roll, log_scale, yaw, pitch = nuisance.rigid * apex_ms / 1000
        scale = float(np.exp(log_scale)) - 1
    blink = "" if blink_frame is None else blink_frame
    return {"drift_x": round(float(tx), 4), "drift_y": round(float(ty), 4), "blink_frame": blink,
            "shown_emotion": shown, "roll_deg_apex": round(float(roll), 4), "scale_apex": round(scale, 5),
            "yaw_deg_apex": round(float(yaw), 4), "pitch_deg_apex": round(float(pitch), 4),
            "shading": round(nuisance.shading[0], 4), "speech": int(nuisance.speech is not None),
            "noise_sigma": round(sigma, 3), "identity": subject.traits}
