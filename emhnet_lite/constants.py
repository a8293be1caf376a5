"""Facts of the field shared by every module: class names, region names, channel order, published counts.

Stated once here so that data, preprocessing, model and figures cannot disagree.
"""

from __future__ import annotations

#: 3-class MEGC2019 composite labels, in label-index order.
CLASS_NAMES: tuple[str, ...] = ("negative", "positive", "surprise")
NUM_CLASSES = len(CLASS_NAMES)

#: Dataset keys as used in every table (and in the published composite sample list).
DATASETS: tuple[str, ...] = ("smic", "casme2", "samm")
DATASET_TITLES = {"smic": "SMIC-HS", "casme2": "CASME II", "samm": "SAMM"}

#: The four facial regions, in this order everywhere (boxes, experts, gate weights, figures).
#: "left"/"right" are IMAGE left/right: the image-left eye is the subject's right eye.
REGION_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "left_lip", "right_lip")

#: Flow channel order of every model input tensor [3, H, W]: horizontal flow u (x, columns, +right),
#: vertical flow v (y, rows, +down), optical strain sqrt(u_x^2 + v_y^2 + 1/2 (u_y + v_x)^2).
#: (HTNet feeds raw 0-255 values in (strain, v, u) order; the kit does not.)
FLOW_CHANNELS: tuple[str, ...] = ("u", "v", "strain")

#: Published composite (MEGC2019 CDE) counts: subjects, samples and per-class samples per dataset.
PUBLISHED_COMPOSITE = {
    "smic": {"subjects": 16, "samples": 164, "negative": 70, "positive": 51, "surprise": 43},
    "casme2": {"subjects": 24, "samples": 145, "negative": 88, "positive": 32, "surprise": 25},
    "samm": {"subjects": 28, "samples": 133, "negative": 92, "positive": 26, "surprise": 15},
}
PUBLISHED_TOTAL = {"subjects": 68, "samples": 442, "negative": 250, "positive": 109, "surprise": 83}
