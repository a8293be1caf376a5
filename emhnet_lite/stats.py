"""Evidence for comparisons: seed spread, subject-level cluster-bootstrap intervals and paired tests.

The MEGC composite's unit of independence is the subject: clips of one subject share a face, a session and
an annotator, so an interval that resamples clips is too narrow. Every interval here resamples SUBJECTS with
replacement and recomputes the pooled UF1/UAR (``metrics.pooled_from_confusion``, the same rule as every
table) on all resampled subjects' clips at once; a resample is a vector of subject counts, so 2,000
resamples of 5 seeds are one matrix product.

Two sources of spread are kept apart (``VariantSummary``):
- seed spread: the sd of the pooled score over training seeds (what another training run would give);
- sampling spread: the bootstrap sd of one seed's pooled score over subject resamples (what another
  draw of subjects would give), and the 95% interval of the seed mean that it implies.

A comparison of two variants on the same subjects and seeds (``paired_comparison``) reports the paired
bootstrap of the UF1 difference (interval and two-sided p) — the kit's headline test, because it tests the
metric the tables report, respects the subject clustering and averages over seeds — and McNemar's test on
pooled per-clip correctness as a second view (it tests accuracy, treats clips and seeds as independent
and is therefore anti-conservative on clustered data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from emhnet_lite import metrics
from emhnet_lite.constants import NUM_CLASSES

KEY_COLUMNS = ["dataset", "subject", "clip"]


@dataclass(frozen=True)
class BootstrapConfig:
    """Subject-level bootstrap settings: resamples, interval level, seed of the resampling generator."""

    n_resamples: int = 2000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_resamples < 1:
            raise ValueError(f"BootstrapConfig.n_resamples={self.n_resamples} must be ≥ 1")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"BootstrapConfig.level={self.level} must be in (0, 1)")


@dataclass(frozen=True)
class SeedTables:
    """The predictions of one variant, one table per training seed, aligned on the same clips.

    counts: [seeds, subjects, C, C] per-subject confusion counts; subjects: ``dataset/subject`` keys.
    """

    subjects: list[str]
    counts: np.ndarray
    keys: pd.DataFrame  # dataset, subject, clip, true — sorted, identical for every seed
    correct: np.ndarray  # [seeds, clips] bool, rows in ``keys`` order
    datasets: list[str]  # dataset of each subject

    @property
    def n_seeds(self) -> int:
        return self.counts.shape[0]


def seed_tables(tables: Sequence[pd.DataFrame], name: str = "variant") -> SeedTables:
    """Check that every seed's table holds the same clips with the same true labels; count per subject.

    Each table needs columns dataset, subject, clip, true, predicted (a run folder's ``predictions.csv``).
    """
    if not tables:
        raise ValueError(f"{name}: no prediction tables")
    sorted_tables = []
    for i, table in enumerate(tables):
        missing = [c for c in KEY_COLUMNS + ["true", "predicted"] if c not in table.columns]
        if missing:
            raise KeyError(f"{name}, seed table {i}: no column(s) {missing} (has {list(table.columns)})")
        frame = table.assign(**{c: table[c].astype(str) for c in KEY_COLUMNS})
        if frame.duplicated(KEY_COLUMNS).any():
            first = frame[frame.duplicated(KEY_COLUMNS)].iloc[0]
            raise ValueError(f"{name}, seed table {i}: clip {'/'.join(first[KEY_COLUMNS])} appears twice")
        sorted_tables.append(frame.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True))
    keys = sorted_tables[0][KEY_COLUMNS + ["true"]]
    for i, frame in enumerate(sorted_tables[1:], start=1):
        if not frame[KEY_COLUMNS + ["true"]].equals(keys):
            raise ValueError(f"{name}: seed table {i} holds other clips or labels than seed table 0")
    subject_key = (keys["dataset"] + "/" + keys["subject"]).to_numpy()
    subjects, subject_index = np.unique(subject_key, return_inverse=True)  # sorted: the LOSO fold order
    true = metrics.as_label_array(keys["true"].to_numpy(), f"{name}: true")
    counts = np.zeros((len(tables), len(subjects), NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    correct = np.zeros((len(tables), len(keys)), dtype=bool)
    for s, frame in enumerate(sorted_tables):
        predicted = metrics.as_label_array(frame["predicted"].to_numpy(), f"{name}, seed {s}: predicted")
        np.add.at(counts[s], (subject_index, true, predicted), 1)
        correct[s] = predicted == true
    datasets = [key.split("/", 1)[0] for key in subjects]
    return SeedTables(subjects=list(subjects), counts=counts, keys=keys, correct=correct, datasets=datasets)


def bootstrap_weights(n_subjects: int, config: BootstrapConfig) -> np.ndarray:
    """[R, subjects] int: how often each subject is drawn in each of R resamples (with replacement)."""
    rng = np.random.default_rng(config.seed)
    draws = rng.integers(0, n_subjects, size=(config.n_resamples, n_subjects))  # [R, n]
    flat = (np.arange(config.n_resamples)[:, None] * n_subjects + draws).ravel()
    return np.bincount(flat, minlength=config.n_resamples * n_subjects).reshape(config.n_resamples, n_subjects)


def resampled_scores(counts: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled (UF1, UAR) [R, seeds] of every resample: counts [seeds, subjects, C, C], weights [R, subjects]."""
    pooled = np.einsum("rn,snij->rsij", weights, counts)  # [R, seeds, C, C]: resampled subjects' clips pooled
    return metrics.pooled_from_confusion(pooled)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of a bootstrap distribution (NaN resamples, with no class defined, left out)."""
    tail = (1.0 - level) / 2
    low, high = np.nanquantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def _sd(values: np.ndarray) -> float:
    """Sample sd (ddof 1); NaN for a single value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


@dataclass(frozen=True)
class VariantSummary:
    """One variant over its seeds: per-seed scores, their mean and seed sd, the subject-bootstrap interval
    of the mean, and the sampling sd of one seed's score (to set against the seed sd).

    With several data sets (SynthME seeds: other subjects, other clips) the mean is over data sets of each
    one's seed mean, the seed sd is pooled within data sets, ``*_data_sd`` is the sd of the data sets'
    means, and each resample draws subjects within every data set independently.
    """

    n_seeds: int  # training seeds per data set (the smallest, if they differ)
    n_data: int  # data sets (SynthME seeds)
    n_subjects: int  # per data set (the smallest)
    n_clips: int
    uf1_per_seed: list[float]  # data set by data set, seed by seed
    uar_per_seed: list[float]
    uf1_mean: float
    uf1_sd: float  # training-seed spread
    uf1_data_sd: float  # data-set (SynthME seed) spread
    uf1_ci_low: float
    uf1_ci_high: float
    uf1_sampling_sd: float  # subject-sampling spread of one seed's UF1 (root mean square over seeds)
    uar_mean: float
    uar_sd: float
    uar_data_sd: float
    uar_ci_low: float
    uar_ci_high: float
    uar_sampling_sd: float
    per_dataset_uf1: dict[str, float]  # mean of the pooled predictions restricted to a dataset
    per_dataset_uar: dict[str, float]

    def as_dict(self) -> dict:
        return asdict(self)


def _groups(tables: SeedTables | Sequence[SeedTables]) -> list[SeedTables]:
    """One data set or several, as a list."""
    groups = [tables] if isinstance(tables, SeedTables) else list(tables)
    if not groups:
        raise ValueError("no data sets to summarise")
    return groups


def _group_weights(groups: list[SeedTables], config: BootstrapConfig) -> list[np.ndarray]:
    """Independent subject resamples per data set (seed + data-set index), shared by paired variants."""
    return [bootstrap_weights(len(g.subjects), replace(config, seed=config.seed + i)) for i, g in enumerate(groups)]


def _pooled_seed_sd(values: list[np.ndarray]) -> float:
    """Seed sd pooled within data sets: sqrt of the mean within-set variance (NaN with one seed each)."""
    variances = [np.var(v, ddof=1) for v in values if len(v) > 1]
    return float(np.sqrt(np.mean(variances))) if variances else float("nan")


def summarize(tables: SeedTables | Sequence[SeedTables], config: BootstrapConfig = BootstrapConfig()) -> VariantSummary:
    """Mean, seed sd and subject-bootstrap 95% interval of pooled UF1/UAR over a variant's seeds."""
    groups = _groups(tables)
    seed_scores = [metrics.pooled_from_confusion(g.counts.sum(axis=1)) for g in groups]  # [(uf1 [S], uar [S])]
    boots = [resampled_scores(g.counts, w) for g, w in zip(groups, _group_weights(groups, config), strict=True)]
    # the statistic of a resample: mean over data sets of the seed mean, as for the point estimate
    uf1_stat = np.mean([np.nanmean(u, axis=1) for u, _ in boots], axis=0)  # [R]
    uar_stat = np.mean([np.nanmean(r, axis=1) for _, r in boots], axis=0)
    uf1_means = np.array([np.mean(u) for u, _ in seed_scores])  # [data sets]
    uar_means = np.array([np.mean(r) for _, r in seed_scores])
    per_dataset_uf1: dict[str, list[float]] = {}
    per_dataset_uar: dict[str, list[float]] = {}
    for g in groups:
        datasets = np.asarray(g.datasets)
        for dataset in dict.fromkeys(g.datasets):
            uf1_d, uar_d = metrics.pooled_from_confusion(g.counts[:, datasets == dataset].sum(axis=1))  # [S]
            per_dataset_uf1.setdefault(dataset, []).append(float(np.mean(uf1_d)))
            per_dataset_uar.setdefault(dataset, []).append(float(np.mean(uar_d)))

    def sampling_sd(index: int) -> float:
        variances = [np.nanvar(b[index], axis=0, ddof=1) for b in boots]  # [S] per data set
        return float(np.sqrt(np.mean(np.concatenate(variances)))) if config.n_resamples > 1 else float("nan")

    uf1_ci, uar_ci = _interval(uf1_stat, config.level), _interval(uar_stat, config.level)
    return VariantSummary(
        n_seeds=min(g.n_seeds for g in groups),
        n_data=len(groups),
        n_subjects=min(len(g.subjects) for g in groups),
        n_clips=sum(len(g.keys) for g in groups),
        uf1_per_seed=[float(v) for u, _ in seed_scores for v in u],
        uar_per_seed=[float(v) for _, r in seed_scores for v in r],
        uf1_mean=float(np.mean(uf1_means)),
        uf1_sd=_pooled_seed_sd([u for u, _ in seed_scores]),
        uf1_data_sd=_sd(uf1_means),
        uf1_ci_low=uf1_ci[0],
        uf1_ci_high=uf1_ci[1],
        uf1_sampling_sd=sampling_sd(0),
        uar_mean=float(np.mean(uar_means)),
        uar_sd=_pooled_seed_sd([r for _, r in seed_scores]),
        uar_data_sd=_sd(uar_means),
        uar_ci_low=uar_ci[0],
        uar_ci_high=uar_ci[1],
        uar_sampling_sd=sampling_sd(1),
        per_dataset_uf1={k: float(np.mean(v)) for k, v in per_dataset_uf1.items()},
        per_dataset_uar={k: float(np.mean(v)) for k, v in per_dataset_uar.items()},
    )


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired correctness: b = A right & B wrong, c = A wrong & B right."""

    b: int
    c: int
    p_exact: float  # two-sided exact binomial test of b ~ Bin(b + c, 1/2): the one the kit reports
    chi2_cc: float  # continuity-corrected statistic (|b − c| − 1)² / (b + c)
    p_cc: float  # its chi-square (1 df) p-value, an approximation for large b + c


def mcnemar(b: int, c: int) -> McNemarResult:
    """Exact and continuity-corrected McNemar p-values from the discordant counts (b, c).

    Exact: p = min(1, 2 · P(X ≤ min(b, c))), X ~ Bin(b + c, 1/2), computed with exact integers. The kit reports
    the exact p: it is valid at every count, where the chi-square form needs b + c ≳ 25.
    """
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar: discordant counts must be ≥ 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return McNemarResult(b=b, c=c, p_exact=1.0, chi2_cc=0.0, p_cc=1.0)
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    p_exact = min(1.0, 2 * tail / 2**n)  # int / int: exact rational, correctly rounded
    statistic = max(abs(b - c) - 1, 0) ** 2 / n
    p_cc = math.erfc(math.sqrt(statistic / 2))  # chi-square survival function with 1 degree of freedom
    return McNemarResult(b=b, c=c, p_exact=p_exact, chi2_cc=statistic, p_cc=p_cc)


@dataclass(frozen=True)
class PairedComparison:
    """Variant A minus variant B on the same subjects: UF1/UAR difference of seed means, subject-paired
    bootstrap interval and two-sided p, and McNemar on pooled per-clip correctness."""

    uf1_diff: float
    uf1_diff_ci_low: float
    uf1_diff_ci_high: float
    p_bootstrap: float  # the kit's reported p
    uar_diff: float
    uar_diff_ci_low: float
    uar_diff_ci_high: float
    mcnemar: McNemarResult
    n_resamples: int

    def as_dict(self) -> dict:
        return asdict(self)


def bootstrap_p(diffs: np.ndarray, observed: float) -> float:
    """Two-sided p of "no difference" from a bootstrap distribution of the difference.

    The distribution shifted to mean zero approximates the null; p = (1 + #{|d* − d̂| ≥ |d̂|}) / (R + 1)
    (the +1 keeps p > 0 and counts the observed value as one draw).
    """
    diffs = diffs[~np.isnan(diffs)]
    extreme = np.abs(diffs - observed) >= abs(observed) - 1e-12
    return float((1 + extreme.sum()) / (len(diffs) + 1))


def paired_comparison(
    a: SeedTables | Sequence[SeedTables], b: SeedTables | Sequence[SeedTables],
    config: BootstrapConfig = BootstrapConfig(),
) -> PairedComparison:
    """Compare A with B on the same clips: every subject resample is applied to both variants (paired).

    Seeds need not be paired (each variant's score is its mean over its seeds); McNemar pairs seed i of A
    with seed i of B, using the first min(seeds) of each, pooled over data sets.
    """
    groups_a, groups_b = _groups(a), _groups(b)
    if len(groups_a) != len(groups_b):
        raise ValueError(f"paired_comparison: {len(groups_a)} data sets against {len(groups_b)}")
    for i, (ga, gb) in enumerate(zip(groups_a, groups_b, strict=True)):
        if ga.subjects != gb.subjects or not ga.keys.equals(gb.keys):
            raise ValueError(f"paired_comparison: data set {i}: the two variants were not evaluated on the same "
                             "clips and labels")
    weights = _group_weights(groups_a, config)
    diffs: dict[str, list] = {"uf1": [], "uar": [], "uf1_boot": [], "uar_boot": []}
    discordant = [0, 0]
    for ga, gb, w in zip(groups_a, groups_b, weights, strict=True):
        uf1_a, uar_a = metrics.pooled_from_confusion(ga.counts.sum(axis=1))  # [S_a]
        uf1_b, uar_b = metrics.pooled_from_confusion(gb.counts.sum(axis=1))
        diffs["uf1"].append(np.mean(uf1_a) - np.mean(uf1_b))
        diffs["uar"].append(np.mean(uar_a) - np.mean(uar_b))
        (boot_uf1_a, boot_uar_a), (boot_uf1_b, boot_uar_b) = resampled_scores(ga.counts, w), resampled_scores(gb.counts, w)
        diffs["uf1_boot"].append(np.nanmean(boot_uf1_a, axis=1) - np.nanmean(boot_uf1_b, axis=1))  # [R]
        diffs["uar_boot"].append(np.nanmean(boot_uar_a, axis=1) - np.nanmean(boot_uar_b, axis=1))
        seeds = min(ga.n_seeds, gb.n_seeds)
        right_a, right_b = ga.correct[:seeds], gb.correct[:seeds]
        discordant[0] += int((right_a & ~right_b).sum())
        discordant[1] += int((~right_a & right_b).sum())
    uf1_diff, uar_diff = float(np.mean(diffs["uf1"])), float(np.mean(diffs["uar"]))
    uf1_diffs, uar_diffs = np.mean(diffs["uf1_boot"], axis=0), np.mean(diffs["uar_boot"], axis=0)  # [R]
    uf1_ci, uar_ci = _interval(uf1_diffs, config.level), _interval(uar_diffs, config.level)
    return PairedComparison(
        uf1_diff=uf1_diff,
        uf1_diff_ci_low=uf1_ci[0],
        uf1_diff_ci_high=uf1_ci[1],
        p_bootstrap=bootstrap_p(uf1_diffs, uf1_diff),
        uar_diff=uar_diff,
        uar_diff_ci_low=uar_ci[0],
        uar_diff_ci_high=uar_ci[1],
        mcnemar=mcnemar(*discordant),
        n_resamples=config.n_resamples,
    )


__all__ = [
    "BootstrapConfig", "SeedTables", "VariantSummary", "PairedComparison", "McNemarResult", "seed_tables",
    "bootstrap_weights", "resampled_scores", "summarize", "paired_comparison", "mcnemar", "bootstrap_p",
]
