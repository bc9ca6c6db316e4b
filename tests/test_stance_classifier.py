"""The stacked stance classifier (stance_model.py): the optional sentiment column, the stemmed
features, the sentiment views, the inner-CV meta model and its StanceEval-tuned biases, saving.
Small hand-made rows only (no Mawqif text, no network)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from workbench.errors import InputError
from workbench.preannotation import stance_model
from workbench.preannotation.stance_model import (FORMAT_VERSION, Example, StanceClassifier, _fa_f1, _tune_bias,
                                                  analyse_stems, read_stance_csv)

FAVOR = ["قرار رائع ومفيد جدا للجميع", "خطوة ممتازة ونجاح كبير", "أؤيد هذا القرار الرائع بقوة",
         "نجاح مبهر وخطوة مفيدة", "شكرا على هذا الإنجاز الممتاز"]
AGAINST = ["قرار سيء وفاشل تماما", "خطوة فاشلة وضارة بالناس", "أرفض هذا القرار السيء بشدة",
           "فشل ذريع وضرر كبير", "هذا الإجراء ضار وسيء جدا"]
NONE = ["خبر عن موعد الاجتماع", "تقرير عن الطقس في المدينة", "إعلان عن مباراة الغد"]


def rows(target: str, copies: int, sentiment: bool = True) -> list[Example]:
    out = []
    for k in range(copies):
        out += [Example(f"{t} {k}", target, "FAVOR", "POSITIVE" if sentiment else None) for t in FAVOR]
        out += [Example(f"{t} {k}", target, "AGAINST", "NEGATIVE" if sentiment else None) for t in AGAINST]
        out += [Example(f"{t} {k}", target, "NONE", "NEUTRAL" if sentiment else None) for t in NONE]
    return out


@pytest.fixture(scope="module")
def two_targets():
    """One target with enough rows for its own model (>= MIN_PER_TARGET), one without."""
    return rows("اللقاح", 8) + rows("التحول الرقمي", 2)


@pytest.fixture(scope="module")
def trained(two_targets):
    return StanceClassifier.train(two_targets)


def write_csv(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_sentiment_column_is_optional_and_checked(tmp_path):
    with_sentiment = write_csv(tmp_path / "a.csv", ["text,target,stance,sentiment", "نص,هدف,Favor,Positive",
                                                    "نص آخر,هدف,Against,", "نص ثالث,هدف,None,neutral"])
    assert [e.sentiment for e in read_stance_csv(with_sentiment)] == ["POSITIVE", None, "NEUTRAL"]
    without = write_csv(tmp_path / "b.csv", ["text,target,stance", "نص,هدف,Favor"])
    assert read_stance_csv(without) == [Example("نص", "هدف", "FAVOR")]
    bad = write_csv(tmp_path / "c.csv", ["text,target,stance,sentiment", "نص,هدف,Favor,Happy"])
    with pytest.raises(InputError, match=r"c.csv:2: sentiment 'Happy'"):
        read_stance_csv(bad)


def test_stems_join_inflected_forms_and_keep_other_tokens():
    assert analyse_stems("اللقاحات لقاح 2021 😂") == ["لقح", "لقح", "2021", "😂"]


def test_fa_f1_is_the_mean_of_favor_and_against_f1():
    gold = np.array([0, 0, 1, 1, 2])        # AGAINST AGAINST FAVOR FAVOR NONE
    predicted = np.array([0, 1, 1, 1, 1])
    # AGAINST: tp 1, fp 0, fn 1 -> 2/3; FAVOR: tp 2, fp 2, fn 0 -> 4/6
    assert _fa_f1(gold, predicted, favor=1, against=0) == pytest.approx((2 / 3 + 4 / 6) / 2)


def test_tuned_bias_recovers_a_rare_class_the_probabilities_underrate():
    rng = np.random.default_rng(0)
    classes = ["AGAINST", "FAVOR", "NONE"]
    gold = np.array([0] * 40 + [1] * 200 + [2] * 30)
    log_proba = np.log(np.full((len(gold), 3), 0.2))
    log_proba[:, 1] = np.log(0.6)                                  # FAVOR always wins unbiased
    log_proba[gold == 0, 0] = np.log(0.45) + rng.normal(0, 0.05, 40)  # AGAINST is second, and only for AGAINST rows
    before = _fa_f1(gold, log_proba.argmax(1), 1, 0)
    bias = _tune_bias(log_proba, gold, classes)
    assert bias[1] == 0 and bias[0] > 0
    assert _fa_f1(gold, (log_proba + bias).argmax(1), 1, 0) > before + 0.3
    no_against = np.zeros(len(gold), int)
    assert not _tune_bias(log_proba[:, 1:], no_against, ["FAVOR", "NONE"]).any()  # no AGAINST: nothing to tune


def test_groups_views_and_predictions(trained):
    assert set(trained.models) == {"*", "اللقاح"}  # the small target uses the shared model
    assert set(trained.views["stance"]) == {"*", "اللقاح"} and len(trained.views["sentiment"]) == 2
    # the meta model reads 3 stance scores and 3 + 3 sentiment scores
    assert trained.models["اللقاح"]["model"].coef_.shape[1] == 9
    for target in ("اللقاح", "التحول الرقمي", "هدف جديد"):
        assert trained.predict(["قرار ممتاز ورائع", "قرار فاشل وسيء"], target) == ["FAVOR", "AGAINST"]
        for p in trained.predict_proba(["قرار ممتاز", "خبر عن الطقس"], target):
            assert set(p) == {"FAVOR", "AGAINST", "NONE"} and sum(p.values()) == pytest.approx(1.0)


def test_trains_without_sentiment_labels(two_targets):
    plain = [Example(e.text, e.target, e.label) for e in two_targets]
    classifier = StanceClassifier.train(plain)
    assert "sentiment" not in classifier.views
    assert classifier.models["اللقاح"]["model"].coef_.shape[1] == 3
    assert classifier.predict(["قرار ممتاز ورائع", "قرار فاشل وسيء"], "اللقاح") == ["FAVOR", "AGAINST"]


def test_meta_model_is_fitted_on_out_of_fold_scores(two_targets, monkeypatch):
    """Each inner fold fits the views without its held-out rows; the meta model sees those rows'
    scores from the fold that did not train on them."""
    fitted_on = []
    original = stance_model._fit_views

    def spy(X, examples, groups, with_sentiment, E=None):
        fitted_on.append({(e.text, e.target) for e in examples})
        return original(X, examples, groups, with_sentiment, E)

    monkeypatch.setattr(stance_model, "_fit_views", spy)
    steps = []
    StanceClassifier.train(two_targets, progress=lambda items: steps.extend(items) or items)
    everything = {(e.text, e.target) for e in two_targets}
    assert len(fitted_on) == stance_model.INNER_FOLDS + 1 and len(steps) == stance_model.INNER_FOLDS + 1
    assert fitted_on[-1] == everything
    held_out = [everything - seen for seen in fitted_on[:-1]]
    assert all(held_out) and set().union(*held_out) == everything
    assert sum(len(h) for h in held_out) == len(everything)  # each row held out exactly once


def test_tiny_and_one_sided_data(tmp_path):
    tiny = [Example("قرار رائع", "هدف", "FAVOR"), Example("قرار سيء", "هدف", "AGAINST"),
            Example("قرار رائع جدا", "هدف", "FAVOR")]
    classifier = StanceClassifier.train(tiny)  # too few rows for an inner CV: still a model
    assert set(classifier.predict_proba(["قرار رائع"], "هدف")[0]) == {"FAVOR", "AGAINST"}
    with pytest.raises(InputError, match="two different labels"):
        StanceClassifier.train([Example("نص", "هدف", "FAVOR")] * 3)
    with pytest.raises(InputError, match="no stance examples"):
        StanceClassifier.train([])


def test_save_load_round_trip_and_old_format(trained, tmp_path):
    path = tmp_path / "stance.pkl"
    trained.save(path, source="test")
    again = StanceClassifier.load(path)
    texts = ["قرار ممتاز", "فشل كبير", "خبر عن الطقس"]
    assert again.predict_proba(texts, "اللقاح") == trained.predict_proba(texts, "اللقاح")
    old = tmp_path / "old.pkl"
    old.write_bytes(pickle.dumps({"format": FORMAT_VERSION - 1, "models": {}, "labels_seen": {}}))
    with pytest.raises(InputError, match=f"format {FORMAT_VERSION}"):
        StanceClassifier.load(old)


def test_few_sentiment_labels_still_give_every_fold_the_same_views(two_targets):
    """35 rated rows: enough for the sentiment views overall, fewer than MIN_SENTIMENT in each
    inner fold's training part; the views (and the meta model's input) stay the same width."""
    assert 35 >= stance_model.MIN_SENTIMENT > 35 * (stance_model.INNER_FOLDS - 1) / stance_model.INNER_FOLDS
    partly = [e if k < 35 else Example(e.text, e.target, e.label) for k, e in enumerate(two_targets)]
    classifier = StanceClassifier.train(partly)
    assert len(classifier.views["sentiment"]) == 2
    assert classifier.models["اللقاح"]["model"].coef_.shape[1] == 9
    assert classifier.predict(["قرار ممتاز ورائع"], "اللقاح") == ["FAVOR"]


def test_seeds_decide_the_inner_folds_and_the_same_seeds_give_the_same_model(two_targets, trained):
    again = StanceClassifier.train(two_targets, seeds=stance_model.DEFAULT_SEEDS)
    other = StanceClassifier.train(two_targets, seeds=(0, 0))
    coef = {name: model.models["اللقاح"]["model"].coef_ for name, model in
            (("trained", trained), ("again", again), ("other", other))}
    assert np.array_equal(coef["trained"], coef["again"])
    assert not np.allclose(coef["trained"], coef["other"])
