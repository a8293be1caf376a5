"""Statistics: vectorised pooled scores, subject-level cluster bootstrap, paired bootstrap and McNemar —
against hand-worked cases, explicit resampled tables scored by sklearn, and scipy's tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, chi2
from sklearn.metrics import f1_score, recall_score

from emhnet_lite import metrics, stats


def predictions(n_subjects: int = 12, clips: int = 5, accuracy: float = 0.7, seed: int = 0) -> pd.DataFrame:
    """A prediction table over ``n_subjects`` subjects of two datasets; each clip right with ``accuracy``."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        dataset = "casme2" if s % 2 else "samm"
        for k in range(clips):
            true = (s + k) % 3
            predicted = true if rng.random() < accuracy else (true + 1 + rng.integers(0, 2)) % 3
            rows.append((dataset, f"s{s:02d}", f"c{k}", true, int(predicted)))
    return pd.DataFrame(rows, columns=["dataset", "subject", "clip", "true", "predicted"])


def test_pooled_from_confusion_equals_scores_with_absent_classes() -> None:
    rng = np.random.default_rng(1)
    matrices = rng.integers(0, 4, size=(200, 3, 3))
    matrices[:40, 2, :] = 0  # class 2 absent (sometimes also never predicted)
    matrices[:20, :, 2] = 0
    uf1, uar = metrics.pooled_from_confusion(matrices)
    for m, u, r in zip(matrices, uf1, uar, strict=True):
        true = np.repeat(np.arange(3), m.sum(axis=1))
        predicted = np.concatenate([np.repeat(np.arange(3), row) for row in m])
        expected = metrics.scores(true, predicted)
        assert u == pytest.approx(expected.uf1, nan_ok=True) and r == pytest.approx(expected.uar, nan_ok=True)
    assert np.isnan(metrics.pooled_from_confusion(np.zeros((3, 3)))[0])


def test_seed_tables_align_and_reject_mismatches() -> None:
    table = predictions()
    shuffled = table.sample(frac=1.0, random_state=0)
    tables = stats.seed_tables([table, shuffled])
    assert tables.n_seeds == 2 and len(tables.subjects) == 12
    assert (tables.counts[0] == tables.counts[1]).all() and tables.counts.sum() == 2 * len(table)
    relabelled = table.assign(true=(table["true"] + 1) % 3)
    with pytest.raises(ValueError, match="other clips or labels"):
        stats.seed_tables([table, relabelled], name="ststnet")
    with pytest.raises(KeyError, match="predicted"):
        stats.seed_tables([table.drop(columns="predicted")])
    with pytest.raises(ValueError, match="appears twice"):
        stats.seed_tables([pd.concat([table, table.iloc[:1]])])
    with pytest.raises(ValueError, match="label 7"):
        stats.seed_tables([table.assign(predicted=7)])


def test_bootstrap_weights_are_seeded_resamples_of_subjects() -> None:
    config = stats.BootstrapConfig(n_resamples=500, seed=3)
    weights = stats.bootstrap_weights(10, config)
    assert weights.shape == (500, 10) and (weights.sum(axis=1) == 10).all() and weights.min() >= 0
    assert (weights == stats.bootstrap_weights(10, config)).all()
    assert not (weights == stats.bootstrap_weights(10, stats.BootstrapConfig(n_resamples=500, seed=4))).all()
    assert abs(weights.mean() - 1.0) < 1e-12 and 0.8 < weights.var() < 1.2  # multinomial(n, 1/n): var ≈ 1


def test_resampled_scores_equal_sklearn_on_explicitly_resampled_tables() -> None:
    tables = [predictions(seed=0), predictions(seed=1, accuracy=0.5)]
    aligned = stats.seed_tables(tables)
    weights = stats.bootstrap_weights(len(aligned.subjects), stats.BootstrapConfig(n_resamples=25, seed=0))
    uf1, uar = stats.resampled_scores(aligned.counts, weights)  # [R, seeds]
    for r in range(25):
        for s, table in enumerate(tables):
            key = table["dataset"] + "/" + table["subject"]
            rows = pd.concat([table[key == subject] for subject, w in zip(aligned.subjects, weights[r], strict=True)
                              for _ in range(w)])
            assert uf1[r, s] == pytest.approx(f1_score(rows["true"], rows["predicted"], average="macro"))
            assert uar[r, s] == pytest.approx(recall_score(rows["true"], rows["predicted"], average="macro"))


def test_summarize_hand_checked() -> None:
    tables = [predictions(seed=s, accuracy=0.6 + 0.1 * s) for s in range(3)]
    config = stats.BootstrapConfig(n_resamples=2000, seed=0)
    summary = stats.summarize(stats.seed_tables(tables), config)
    per_seed = [metrics.uf1_uar(t["true"], t["predicted"]) for t in tables]
    assert summary.uf1_per_seed == pytest.approx([u for u, _ in per_seed])
    assert summary.uf1_mean == pytest.approx(np.mean([u for u, _ in per_seed]))
    assert summary.uf1_sd == pytest.approx(np.std([u for u, _ in per_seed], ddof=1))
    assert summary.uar_mean == pytest.approx(np.mean([r for _, r in per_seed]))
    assert summary.uf1_ci_low < summary.uf1_mean < summary.uf1_ci_high
    assert summary.uar_ci_low < summary.uar_mean < summary.uar_ci_high
    # the interval is the percentile interval of the seed mean over the same subject resamples
    aligned = stats.seed_tables(tables)
    uf1_boot, _ = stats.resampled_scores(aligned.counts, stats.bootstrap_weights(12, config))
    assert summary.uf1_ci_low == pytest.approx(np.quantile(uf1_boot.mean(axis=1), 0.025))
    assert summary.uf1_sampling_sd == pytest.approx(np.sqrt(np.mean(uf1_boot.var(axis=0, ddof=1))))
    for dataset in ("samm", "casme2"):
        expected = np.mean([metrics.uf1_uar(t[t["dataset"] == dataset]["true"], t[t["dataset"] == dataset]["predicted"])[0]
                            for t in tables])
        assert summary.per_dataset_uf1[dataset] == pytest.approx(expected)
    one = stats.summarize(stats.seed_tables(tables[:1]), config)
    assert one.n_seeds == 1 and np.isnan(one.uf1_sd) and one.uf1_sampling_sd > 0


def test_interval_narrows_with_more_subjects() -> None:
    config = stats.BootstrapConfig(n_resamples=2000, seed=0)
    small = stats.summarize(stats.seed_tables([predictions(n_subjects=10, seed=0)]), config)
    large = stats.summarize(stats.seed_tables([predictions(n_subjects=160, seed=0)]), config)
    assert large.uf1_ci_high - large.uf1_ci_low < 0.5 * (small.uf1_ci_high - small.uf1_ci_low)


@pytest.mark.parametrize("b, c", [(1, 6), (0, 0), (5, 5), (0, 3), (12, 30), (300, 350), (1000, 900)])
def test_mcnemar_matches_scipy(b: int, c: int) -> None:
    result = stats.mcnemar(b, c)
    if b + c == 0:
        assert result.p_exact == 1.0 and result.p_cc == 1.0
        return
    assert result.p_exact == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    assert result.chi2_cc == pytest.approx(statistic)
    assert result.p_cc == pytest.approx(chi2.sf(statistic, 1), rel=1e-9)


def test_mcnemar_hand_worked() -> None:
    result = stats.mcnemar(1, 6)  # 2 · P(X ≤ 1), X ~ Bin(7, 1/2) = 2 · (1 + 7) / 128
    assert result.p_exact == 0.125
    assert result.chi2_cc == pytest.approx(16 / 7)  # (|1 − 6| − 1)² / 7
    with pytest.raises(ValueError, match="≥ 0"):
        stats.mcnemar(-1, 2)


def test_bootstrap_p_hand_worked() -> None:
    # shifted to the null: |d* − 0.2| = 0.1, 0, 0.1, none ≥ 0.2 → p = 1 / 4
    assert stats.bootstrap_p(np.array([0.1, 0.2, 0.3]), 0.2) == 0.25
    # a difference of zero is never significant
    assert stats.bootstrap_p(np.array([-0.1, 0.0, 0.3]), 0.0) == 1.0


def test_paired_comparison_identical_and_clearly_different() -> None:
    config = stats.BootstrapConfig(n_resamples=2000, seed=0)
    base = stats.seed_tables([predictions(n_subjects=30, seed=s, accuracy=0.5) for s in range(2)])
    same = stats.paired_comparison(base, base, config)
    assert same.uf1_diff == 0 and same.uf1_diff_ci_low == 0 and same.uf1_diff_ci_high == 0
    assert same.p_bootstrap == 1.0 and same.mcnemar.p_exact == 1.0
    better = stats.seed_tables([predictions(n_subjects=30, seed=s + 10, accuracy=0.95) for s in range(2)])
    result = stats.paired_comparison(better, base, config)
    assert result.uf1_diff > 0.3 and result.uf1_diff_ci_low > 0.2
    assert result.p_bootstrap == pytest.approx(1 / 2001) and result.mcnemar.p_exact < 1e-6
    assert result.mcnemar.b > result.mcnemar.c
    flipped = stats.paired_comparison(base, better, config)
    assert flipped.uf1_diff == pytest.approx(-result.uf1_diff)
    assert flipped.uf1_diff_ci_high == pytest.approx(-result.uf1_diff_ci_low)


def test_paired_comparison_is_paired() -> None:
    """Two variants that differ on a few clips only: pairing removes the shared subject spread, so the paired
    interval of the difference is far narrower than the unpaired intervals of the two variants."""
    config = stats.BootstrapConfig(n_resamples=2000, seed=0)
    a = predictions(n_subjects=40, seed=0, accuracy=0.6)
    b = a.copy()
    b.loc[::15, "predicted"] = b.loc[::15, "true"]  # B fixes every 15th clip
    ta, tb = stats.seed_tables([a]), stats.seed_tables([b])
    result = stats.paired_comparison(tb, ta, config)
    single = stats.summarize(ta, config)
    assert result.uf1_diff > 0
    assert result.uf1_diff_ci_high - result.uf1_diff_ci_low < 0.5 * (single.uf1_ci_high - single.uf1_ci_low)
    assert result.mcnemar.c == 0 and result.mcnemar.b > 0
    with pytest.raises(ValueError, match="same clips"):
        stats.paired_comparison(ta, stats.seed_tables([predictions(n_subjects=39)]), config)


def test_several_data_sets_keep_training_seed_and_data_spread_apart() -> None:
    """Two SynthME seeds (other subjects and clips): the mean is over data sets of the seed means, the seed sd is
    pooled within data sets and the data sd is the spread of the data sets' means."""
    config = stats.BootstrapConfig(n_resamples=500, seed=0)
    first = [predictions(n_subjects=12, seed=s, accuracy=0.6) for s in range(3)]
    second = [predictions(n_subjects=14, seed=s + 5, accuracy=0.9) for s in range(3)]
    groups = [stats.seed_tables(first), stats.seed_tables(second)]
    summary = stats.summarize(groups, config)
    one, two = stats.summarize(groups[0], config), stats.summarize(groups[1], config)
    assert summary.n_data == 2 and summary.n_seeds == 3 and summary.n_subjects == 12
    assert summary.uf1_mean == pytest.approx((one.uf1_mean + two.uf1_mean) / 2)
    assert summary.uf1_sd == pytest.approx(np.sqrt((one.uf1_sd**2 + two.uf1_sd**2) / 2))
    assert summary.uf1_data_sd == pytest.approx(np.std([one.uf1_mean, two.uf1_mean], ddof=1))
    assert summary.uf1_ci_low < summary.uf1_mean < summary.uf1_ci_high
    assert len(summary.uf1_per_seed) == 6
    paired = stats.paired_comparison(groups, groups, config)
    assert paired.uf1_diff == 0 and paired.p_bootstrap == 1.0
    with pytest.raises(ValueError, match="data sets"):
        stats.paired_comparison(groups, groups[:1], config)
