"""SynthME 2 nuisances: millisecond timing, rigid head motion, moving shading, sensor domains, blinks, speech.

Every knob lives in ``SynthConfig`` (``generate.py``); all of them off is ``easy`` (the original generator,
byte-for-byte). The sources and reasoning behind each number are in ``docs/data.md`` ("SynthME 2").
Everything here draws from its own random streams, so switching a knob never changes another's draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from emhnet_lite.synth.motion import AU_BUMPS, au_field


@dataclass(frozen=True)
class Domain:
    """One release's sensor at ``real``: canvas, colour, noise sigma range, JPEG quality, optical blur."""

    width: int
    height: int
    color: bool
    noise: tuple[float, float]
    jpeg_quality: int
    blur: float

    @property
    def shape(self) -> tuple[int, ...]:
        """Frame array shape: (H, W, 3) in colour, (H, W) in grey."""
        return (self.height, self.width, 3) if self.color else (self.height, self.width)


#: CASME II: 640x480 colour JPEG, well lit (face crop ~170 px); SAMM: 2040x1088 greyscale, larger faces
#: (here 1.33x CASME II's canvas); SMIC-HS: 640x480 colour BMP from a noisier camera, smaller faces.
DOMAINS = {
    "casme2": Domain(168, 196, True, (1.0, 1.8), 88, 0.0),
    "samm": Domain(224, 224, False, (1.4, 2.4), 90, 0.0),
    "smic": Domain(112, 126, True, (2.4, 3.6), 100, 0.6),
}
#: Width of the canvas whose pixel amplitudes the AU recipes are written in (CASME II's); other canvases
#: scale amplitudes by their width, so motion is the same fraction of the face in every domain.
REFERENCE_WIDTH = 168
#: Onset -> offset duration (ms): log-normal median and log-sd, clipped to the micro range.
DURATION_MS = {"casme2": (300.0, 0.35), "samm": (330.0, 0.35), "smic": (300.0, 0.35)}
DURATION_RANGE_MS = (150.0, 500.0)
ONSET_MAX_MS = 250.0  # CASME II's criterion: onset -> apex at most 250 ms
#: Frames before onset / after offset inside the clip folder (ms); SMIC clips are the interval itself.
PADDING_MS = {"casme2": (0.0, 20.0), "samm": (0.0, 30.0), "smic": (0.0, 0.0)}
BLINK_DURATION_MS = (100.0, 400.0)
SPEECH_HZ = (3.0, 6.0)
#: Recipes shared between classes at ``real`` (drawn with probability ``ambiguity``): AU12 in contempt and
#: repression, AU4 in surprise, brow lowering alone in disgust.
SHARED_RECIPES: dict[str, list[tuple[int, ...]]] = {
    "happiness": [(12, 14), (12, 7)], "positive": [(12, 14), (12, 7)],
    "surprise": [(1, 2, 4), (1, 4), (4, 5)],
    "disgust": [(4,), (4, 7)], "repression": [(12,), (12, 24), (12, 17)],
    "anger": [(4, 9), (4, 14)], "contempt": [(12,), (12, 14)], "fear": [(1, 2, 5)],
    "sadness": [(4, 15), (1,)], "negative": [(12,), (4,), (1, 4)],
    "others": [(12,), (4,)], "other": [(12,), (4,)],
}
#: Source emotions per 3-class label (negative, positive, surprise) that label noise draws from.
LABEL_POOLS = (("disgust", "repression", "anger", "contempt", "fear", "sadness"), ("happiness",), ("surprise",))
#: ``region_control``: where each AU's bumps move (anchor landmarks, offset in interocular units). The kit's
#: region boxes are large (14x14 of a 28x28 input: together they cover most of the aligned face), so the
#: control moves class-defining motion off the region *centres* (eye+brow means, lip corners) into the gaps
#: between them: the glabella, the nose tip, the mid-cheeks and the chin, each >= 0.5 interocular away.
CONTROL_SITES = {
    "glabella": ((21, 22), (0.0, -0.3)), "nose": ((30,), (0.0, 0.0)),
    "cheek_L": ((1,), (0.45, 0.1)), "cheek_R": ((15,), (-0.45, 0.1)), "chin": ((57, 8), (0.0, 0.15)),
}
CONTROL_MAP = {1: ("glabella",), 2: ("glabella",), 4: ("glabella",), 5: ("glabella",), 7: ("glabella",),
               6: ("cheek_L", "cheek_R"), 9: ("nose",), 10: ("cheek_L", "cheek_R"), 12: ("cheek_L", "cheek_R"),
               14: ("cheek_L", "cheek_R"), 15: ("cheek_L", "cheek_R"), 17: ("chin",), 24: ("nose", "chin"),
               26: ("chin",)}
CONTROL_RADIUS = 0.7  # control bumps are this much narrower, so they stay clear of the region centres


def control_bumps() -> dict[int, list]:
    """``AU_BUMPS`` with every anchor moved to its control site (same directions, sides, narrower)."""
    table = {}
    for au, bumps in AU_BUMPS.items():
        sites = CONTROL_MAP[au]
        table[au] = [(CONTROL_SITES[sites[k % len(sites)]][0], direction, radius * CONTROL_RADIUS, side,
                      CONTROL_SITES[sites[k % len(sites)]][1])
                     for k, (_, direction, radius, side) in enumerate(bumps)]
    return table


def draw_timing(rng: np.random.Generator, dataset: str, fps: int, first: int, apex_noise_ms: float,
                apex_cell: object) -> dict[str, int | object]:
    """Clip frames from millisecond timing: duration, onset -> apex share, padding; annotated apex noise."""
    median, spread = DURATION_MS[dataset]
    duration = float(np.clip(median * np.exp(rng.normal(0, spread)), *DURATION_RANGE_MS))
    rise = min(duration * rng.uniform(0.3, 0.6), ONSET_MAX_MS)
    before, after = (rng.uniform(*PADDING_MS[dataset]) for _ in range(2))
    per_ms = fps / 1000.0
    onset = first + int(round(before * per_ms))
    offset = onset + max(int(round(duration * per_ms)), 4)
    true_apex = onset + max(1, int(round(rise * per_ms)))
    last = offset + int(round(after * per_ms))
    annotated = apex_cell
    if isinstance(apex_cell, int) and apex_cell != -1:
        error = int(round(rng.normal(0, apex_noise_ms) * per_ms)) if apex_noise_ms > 0 else 0
        annotated = int(np.clip(true_apex + error, onset + 1, offset - 1))
    return {"first_frame": first, "last_frame": last, "onset": onset, "true_apex": true_apex, "offset": offset,
            "apex_cell": annotated}


def shared_recipe(rng: np.random.Generator, emotion: str, label: int | None, ambiguity: float,
                  label_noise: float) -> tuple[str, tuple[int, ...] | None]:
    """(emotion whose AUs the face shows, recipe or None = draw as usual): label noise, shared AUs.

    Label noise: the face shows an emotion of another 3-class label than the one annotated.
    """
    shown = emotion
    if label is not None and label_noise > 0 and rng.uniform() < label_noise:
        others = [e for k, pool in enumerate(LABEL_POOLS) if k != label for e in pool]
        shown = others[int(rng.integers(0, len(others)))]
    if ambiguity > 0 and rng.uniform() < ambiguity:
        recipes = SHARED_RECIPES[shown.lower()]
        return shown, recipes[int(rng.integers(0, len(recipes)))]
    return shown, None


@dataclass
class Nuisance:
    """Per-clip draws of the SynthME 2 nuisances (times in ms from the clip's first frame)."""

    rigid: np.ndarray  # [6]: velocities of tx, ty (px/s), roll (deg/s), log-scale (/s), yaw, pitch (deg/s)
    tremor: tuple[float, float, float]  # amplitude px, frequency Hz, phase
    shading: tuple[float, float, float]  # peak amplitude, start angle (rad), angular speed (rad/s)
    distractor_times: list[tuple[float, float, float]] = field(default_factory=list)  # onset, apex, offset
    speech: tuple[float, float, float] | None = None  # amplitude px, Hz, phase
    blink_ms: float | None = None
    blink_width_ms: float = 40.0


def draw_nuisance(rng: np.random.Generator, head_motion: float, illumination: float, clip_ms: float,
                  distractors: int, distractor_timing: bool, speech: float, blink_rate: float,
                  peak: float) -> Nuisance:
    """Draw one clip's rigid motion, shading, distractor timing, speech-like mouth motion and blink."""
    scale = np.array([4.0, 4.0, 2.0, 0.03, 4.0, 4.0]) * head_motion
    rigid = rng.normal(0, 1, 6) * scale
    tremor = (float(rng.uniform(0, 0.25) * head_motion), float(rng.uniform(1, 4)), float(rng.uniform(0, 2 * np.pi)))
    shading = (float(illumination * rng.uniform(0.5, 1.0)), float(rng.uniform(0, 2 * np.pi)),
               float(rng.normal(0, 1.5)))
    times = []
    for _ in range(distractors):
        if distractor_timing:
            length = rng.uniform(100, 400)
            onset = rng.uniform(-0.3 * length, clip_ms)
            times.append((onset, onset + length * rng.uniform(0.3, 0.6), onset + length))
        else:
            times.append((np.nan, np.nan, np.nan))
    mouth = None
    if speech > 0 and rng.uniform() < speech:
        mouth = (float(peak * rng.uniform(0.3, 0.8)), float(rng.uniform(*SPEECH_HZ)), float(rng.uniform(0, 6.3)))
    blink, width = None, 40.0
    if blink_rate > 0:
        duration = rng.uniform(*BLINK_DURATION_MS)
        if rng.uniform() < 1 - np.exp(-blink_rate / 60_000.0 * (clip_ms + duration)):
            blink, width = float(rng.uniform(-duration / 2, clip_ms + duration / 2)), float(duration / 4)
    return Nuisance(rigid, tremor, shading, times, mouth, blink, width)


def raised_cosine(t: float, onset: float, apex: float, offset: float) -> float:
    """The expression time course in continuous time: 0 outside (onset, offset), 1 at apex."""
    if not onset < t < offset:
        return 0.0
    if t <= apex:
        return float(0.5 - 0.5 * np.cos(np.pi * (t - onset) / max(apex - onset, 1e-6)))
    return float(0.5 + 0.5 * np.cos(np.pi * (t - apex) / max(offset - apex, 1e-6)))


class RigidMotion:
    """Slow head drift as a homography about the face centre: translation, roll, scale, yaw/pitch."""

    def __init__(self, nuisance: Nuisance, centre: np.ndarray, width: int, height: int):
        self.nuisance, self.centre = nuisance, centre.astype(np.float64)
        self.focal = 2.0 * width  # a ~50 degree field of view
        grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.shape = (height, width)
        self.points = np.stack([grid_x - centre[0], grid_y - centre[1], np.ones_like(grid_x)]).reshape(3, -1)

    def homography(self, seconds: float) -> np.ndarray:
        """3x3 map from face to image coordinates (about the face centre) at time ``seconds``."""
        tx, ty, roll, log_scale, yaw, pitch = self.nuisance.rigid * seconds
        amp, hz, phase = self.nuisance.tremor
        tx += amp * np.sin(2 * np.pi * hz * seconds + phase)
        ty += amp * np.cos(2 * np.pi * hz * seconds + 1.3 * phase)
        angle, s = np.deg2rad(roll), np.exp(log_scale)
        return np.array([[s * np.cos(angle), -s * np.sin(angle), tx],
                         [s * np.sin(angle), s * np.cos(angle), ty],
                         [np.tan(np.deg2rad(yaw)) / self.focal, np.tan(np.deg2rad(pitch)) / self.focal, 1.0]])

    def source(self, seconds: float) -> np.ndarray:
        """``T^-1(y)`` in image coordinates, float32 ``[2, H, W]`` (x, y): where each pixel's texture sits."""
        inverse = np.linalg.inv(self.homography(seconds)).astype(np.float32)
        mapped = inverse @ self.points  # [3, H*W]
        source = mapped[:2] / mapped[2:] + self.centre.astype(np.float32)[:, None]
        return source.reshape(2, *self.shape)

    def displacement(self, seconds: float) -> np.ndarray:
        """``y - T^-1(y)`` float32 ``[H, W, 2]``: the backward-warp displacement of the head pose."""
        grid = self.points[:2].reshape(2, *self.shape) + self.centre.astype(np.float32)[:, None, None]
        return np.moveaxis(grid - self.source(seconds), 0, -1)


def shading_gain(nuisance: Nuisance, seconds: float, planes: np.ndarray) -> np.ndarray:
    """Multiplicative moving shading gradient ``[H, W]``: a plane whose direction turns over the clip."""
    amplitude, angle, speed = nuisance.shading
    theta = angle + speed * seconds
    return 1.0 + amplitude * (np.cos(theta) * planes[0] + np.sin(theta) * planes[1])


def shading_planes(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """x and y coordinates relative to the face centre in units of half the face width, ``[2, H, W]``."""
    centre = landmarks.mean(0)
    half = max(float(np.ptp(landmarks[:, 0])) / 2, 1.0)
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([(grid_x - centre[0]) / half, (grid_y - centre[1]) / half])


class NoiseBank:
    """Sensor noise without drawing a full frame of normals per frame: random shifted, signed crops of a
    small bank of unit-variance frames (optionally blurred: demosaicing correlates neighbours)."""

    MARGIN = 12

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...], size: int = 12, blur: float = 0.0):
        height, width = shape[:2]
        full = (size, height + self.MARGIN, width + self.MARGIN) + tuple(shape[2:])
        bank = rng.standard_normal(full, dtype=np.float32)
        if blur > 0:
            bank = np.stack([cv2.GaussianBlur(b, (0, 0), blur) for b in bank])
            bank /= bank.std()
        self.bank, self.height, self.width = bank, height, width

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One frame of unit noise (a view into the bank, sign-flipped at random)."""
        index, dy, dx = rng.integers(0, len(self.bank)), *rng.integers(0, self.MARGIN, 2)
        crop = self.bank[index, dy:dy + self.height, dx:dx + self.width]
        return crop if rng.uniform() < 0.5 else -crop


def speech_field(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Unit speech-like mouth field: jaw drop with a little lip press, ``[H, W, 2]``."""
    return au_field(landmarks, shape, [(26, "", 1.0), (24, "", 0.4)])


def relief(image: np.ndarray, landmarks: np.ndarray, strength: float) -> np.ndarray:
    """Facial relief shading (eye sockets, nose sides and shadow, under-lip shadow, cheek sides, brow ridge
    and nose highlight): the 3-D cues that a HOG face detector (dlib) keys on. ``image`` float ``[H, W, C]``."""
    height, width = image.shape[:2]
    io = float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)

    def blob(centre: np.ndarray, sx: float, sy: float) -> np.ndarray:
        return np.exp(-(((grid_x - centre[0]) / (sx * io)) ** 2 + ((grid_y - centre[1]) / (sy * io)) ** 2) / 2)

    p = landmarks
    dark = sum(0.35 * blob(p[a:a + 6].mean(0) + [0, -0.05 * io], 0.32, 0.2) for a in (36, 42))
    for side in (31, 35):
        dark += 0.22 * blob((p[27] + p[side]) / 2 + [(p[side, 0] - p[30, 0]) * 0.4, 0], 0.07, 0.3)
    dark += 0.30 * blob(p[33] + [0, 0.08 * io], 0.25, 0.06) + 0.25 * blob(p[57] + [0, 0.12 * io], 0.3, 0.07)
    dark += 0.18 * (blob(p[3], 0.25, 0.5) + blob(p[13], 0.25, 0.5))
    light = 0.12 * blob(p[27] + [0, -0.6 * io], 0.5, 0.3) + 0.10 * blob((p[29] + p[30]) / 2, 0.06, 0.35)
    gain = (1 - strength * np.clip(dark, 0, 0.7)) * (1 + strength * light)
    return image * (gain[..., None] if image.ndim == 3 else gain)
