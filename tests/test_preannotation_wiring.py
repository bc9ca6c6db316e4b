"""Pre-annotation files chosen by settings (WORKBENCH_NER_MODEL, WORKBENCH_STANCE_MODEL,
WORKBENCH_LEXICON), score calibration, posterior decoding, run-time feature pruning and the
boilerplate filter. All data is made up; the only model file read is one trained here."""
import json

import pytest
from test_preannotation_models import synthetic_conll

from workbench.errors import ConfigError
from workbench.preannotate import configured_preannotator
from workbench.preannotation.calibration import Calibration, fit_calibration, precision_by_bucket
from workbench.preannotation.conll import read_conll
from workbench.preannotation.crf import CrfTagger
from workbench.preannotation.crf_features import core_form, gazetteer_tags
from workbench.preannotation.crf_sequence import sequence_features
from workbench.preannotation.engine import CrfLayer, Document, PreAnnotationEngine, default_gazetteer
from workbench.preannotation.ner_training import train_crf
from workbench.preannotation.rules import Candidate
from workbench.preannotation.stance_model import Example, StanceClassifier
from workbench.preannotation.text import normalise, tokenise
from workbench.settings import load_settings

TARGETS = ["أوكرانيا"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crf")
    sentences = read_conll(synthetic_conll(folder / "train.txt"), {"PERS": "PER", "LOC": "GPE"})
    train_crf(sentences, folder / "tiny.crfsuite", max_iterations=40)
    return folder / "tiny.crfsuite"


def tokens_of(text):
    norm = normalise(text)
    return norm, tokenise(norm.text)


def settings_with(tmp_path, **env):
    return load_settings(environ={"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_VAR_DIR": str(tmp_path / "var"),
                                  **env})


# --- settings ---------------------------------------------------------------------------------

def test_preannotation_files_default_to_none(tmp_path):
    settings = settings_with(tmp_path)
    assert (settings.ner_model, settings.stance_model, settings.lexicon) == (None, None, None)


@pytest.mark.parametrize("variable", ["WORKBENCH_NER_MODEL", "WORKBENCH_STANCE_MODEL", "WORKBENCH_LEXICON"])
def test_a_missing_file_is_a_config_error_naming_the_variable(tmp_path, variable):
    with pytest.raises(ConfigError) as info:
        settings_with(tmp_path, **{variable: "nowhere/model.bin"})
    assert variable in info.value.message and variable in info.value.errors


def test_relative_paths_are_read_from_home(tmp_path, model):
    (tmp_path / "ner.crfsuite").write_bytes(model.read_bytes())
    assert settings_with(tmp_path, WORKBENCH_NER_MODEL="ner.crfsuite").ner_model == tmp_path / "ner.crfsuite"


@pytest.mark.parametrize("variable,content", [("WORKBENCH_NER_MODEL", b"not a model"),
                                              ("WORKBENCH_STANCE_MODEL", b"not a pickle"),
                                              ("WORKBENCH_LEXICON", "a line without a tab\n".encode())])
def test_a_file_that_does_not_load_is_a_config_error_naming_the_variable(tmp_path, variable, content):
    (tmp_path / "file").write_bytes(content)
    settings = settings_with(tmp_path, **{variable: "file"})
    with pytest.raises(ConfigError) as info:
        configured_preannotator(settings, TARGETS)
    assert info.value.message.startswith(variable)


# --- configured engine ------------------------------------------------------------------------

def test_configured_engine_uses_the_model_the_lexicon_and_the_stance_classifier(tmp_path, model):
    (tmp_path / "lexicon.tsv").write_text("# source: test\nمؤسسة الزيزفون\tORG\n", encoding="utf-8")
    examples = [Example(f"أوكرانيا {w} {k}", "أوكرانيا", label) for k in range(10)
                for w, label in (("رائعة جميلة", "FAVOR"), ("سيئة فاشلة", "AGAINST"))]
    StanceClassifier.train(examples).save(tmp_path / "stance.pkl", source="test")
    settings = settings_with(tmp_path, WORKBENCH_NER_MODEL=str(model), WORKBENCH_LEXICON="lexicon.tsv",
                             WORKBENCH_STANCE_MODEL="stance.pkl")
    engine = configured_preannotator(settings, TARGETS)
    plain = configured_preannotator(settings_with(tmp_path), TARGETS)
    prediction = engine.annotate("أوكرانيا رائعة جميلة. زارت مؤسسة الزيزفون المدينة.")
    assert ("ORG", "مؤسسة الزيزفون") in [(e["label"], e["text"]) for e in prediction.entities]
    assert prediction.stance["أوكرانيا"]["label"] == "FAVOR"
    assert engine.stance_model.name == "classifier" and plain.stance_model.name == "lexicon"
    assert engine.layers[1].tagger.model_path == model
    assert "+ner." in engine.model_version and "+lexicon." in engine.model_version
    assert "+" not in plain.model_version


# --- scores -------------------------------------------------------------------------------------

def test_calibration_interpolates_between_points_and_clips_at_the_ends():
    calibration = Calibration([(0.5, 0.4), (0.9, 0.8)])
    assert calibration(0.7) == pytest.approx(0.6)
    assert calibration(0.1) == 0.4 and calibration(1.0) == 0.8


def test_calibration_refuses_points_that_go_down():
    with pytest.raises(ValueError):
        Calibration([(0.5, 0.8), (0.9, 0.4)])


def test_fitted_calibration_is_monotone_and_follows_the_hit_rate():
    scores = [0.55, 0.6, 0.65, 0.7, 0.9, 0.95, 0.97, 0.99]
    right = [False, False, True, False, True, True, True, True]
    calibration = fit_calibration(scores, right)
    mapped = [calibration(s) for s in scores]
    assert mapped == sorted(mapped) and mapped[0] < 0.5 and mapped[-1] == 1.0


def test_precision_by_bucket_counts_each_range():
    rows = precision_by_bucket([0.55, 0.58, 0.93, 0.97], [True, False, True, True], (0.5, 0.6, 0.95, 1.0001))
    assert rows == [{"low": 0.5, "high": 0.6, "count": 2, "precision": 0.5},
                    {"low": 0.6, "high": 0.95, "count": 1, "precision": 1.0},
                    {"low": 0.95, "high": 1.0, "count": 1, "precision": 1.0}]


def test_tagger_scores_go_through_the_sidecar_calibration(tmp_path, model):
    copy = tmp_path / "m.crfsuite"
    copy.write_bytes(model.read_bytes())
    text = "قال وسيم الخطيب إن الوضع في مدينة قطنا هادئ."
    norm, tokens = tokens_of(text)
    raw = CrfTagger(copy).candidates(norm.text, tokens, [], default_gazetteer())
    copy.with_suffix(".json").write_text(json.dumps({"calibration": {"points": [[0.0, 0.25], [1.0, 0.25]]}}))
    calibrated = CrfTagger(copy).candidates(norm.text, tokens, [], default_gazetteer())
    assert raw and [(c.start, c.end) for c in calibrated] == [(c.start, c.end) for c in raw]
    assert {c.score for c in calibrated} == {0.25} and all(c.score > 0.25 for c in raw)


# --- decoding and features ------------------------------------------------------------------------

def test_posterior_decoding_adds_names_viterbi_left_out(model):
    text = "قال وسيم الخطيب إن الوضع في مدينة قطنا هادئ."
    norm, tokens = tokens_of(text)
    viterbi = CrfTagger(model, o_threshold=0).tag_tokens(norm.text, tokens, [])
    everything = CrfTagger(model, o_threshold=1.01).tag_tokens(norm.text, tokens, [])
    covered = {k for first, last, *_ in everything for k in range(first, last + 1)}
    assert covered == set(range(len(tokens)))
    assert len(viterbi) < len(everything)


def test_neighbour_features_reach_two_tokens_either_side():
    norm, tokens = tokens_of("قال الرئيس محمد بن سلمان")
    middle = sequence_features(norm.text, tokens, ["O"] * 5)[2]
    assert {"-2w=قال", "-1w=الرئيس", "-1title", "1w=بن", "2w=سلمان", "c=محمد"} <= set(middle)
    assert {"-1edge", "-2edge"} <= set(sequence_features(norm.text, tokens, ["O"] * 5)[0])


@pytest.mark.parametrize("word,core", [("وبالحكومه", "الحكومه"), ("والحكومه", "حكومه"), ("بالحكومه", "حكومه"),
                                       ("للحكومه", "حكومه"), ("الحكومه", "حكومه"), ("وزير", "زير"),
                                       ("ال", "ال"), ("محمد", "محمد")])
def test_core_form_strips_a_leading_particle_and_article(word, core):
    assert core_form(word) == core


# --- boilerplate ----------------------------------------------------------------------------------

class FixedTagger:
    """Stands in for the CRF: says every given span is an ORG."""

    def __init__(self, spans):
        self.spans = spans

    def tag_many(self, documents):
        return [[(text.index(s), text.index(s) + len(s)) for s in self.spans] for text, _, _ in documents]

    def candidates_from(self, tokens, tagged, gazetteer, min_score):
        return [Candidate(start, end, "ORG", 0.9, "crf") for start, end in tagged]


@pytest.mark.parametrize("text,span,kept", [
    ("خبر.\nكلمات دلالية: روسيا أوكرانيا", "كلمات دلاليه", False),
    ("خبر.\nكلمات دلالية : روسيا", "كلمات دلاليه", False),
    ("خبر.\nبوتين: سنواصل", "بوتين", True),           # a listed name: a headline, not a field label
    ("قال إن كلمات دلالية: روسيا", "كلمات دلاليه", True),  # not at the start of a line
    ("خبر.\nكلمات دلالية روسيا", "كلمات دلاليه", True),    # no colon
])
def test_a_line_start_field_label_is_not_an_entity(text, span, kept):
    norm, tokens = tokens_of(text)
    layer = CrfLayer(FixedTagger([span]), default_gazetteer())
    found = layer.spans(Document(norm, tokens, []), [])
    assert bool(found) == kept


def test_engine_with_fixed_tagger_keeps_offsets_on_the_original_text():
    text = "خبرٌ.\nمؤسسةُ الزيزفون تعمل"
    engine = PreAnnotationEngine([], layers=[CrfLayer(FixedTagger(["مؤسسه الزيزفون"]), default_gazetteer())])
    (entity,) = engine.annotate(text).entities
    assert text[entity["start"]:entity["end"]] == entity["text"] == "مؤسسةُ الزيزفون"


def test_train_ner_stores_a_calibration_in_the_model_sidecar(tmp_path):
    from click.testing import CliRunner

    from workbench.cli import main
    (tmp_path / "cal.json").write_text(json.dumps({"points": [[0.5, 0.3], [1.0, 0.9]]}))
    training = synthetic_conll(tmp_path / "train.txt", 10)
    args = ["train", "ner", "--conll", str(training), "--out", str(tmp_path / "m.crfsuite"), "--iterations", "5"]
    result = CliRunner().invoke(main, args + ["--calibration", str(tmp_path / "cal.json")])
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "m.json").read_text())
    assert sidecar["calibration"]["points"] == [[0.5, 0.3], [1.0, 0.9]]
    assert CrfTagger(tmp_path / "m.crfsuite").calibration(0.75) == pytest.approx(0.6)
    (tmp_path / "bad.json").write_text(json.dumps({"points": [[0.5, 0.9], [1.0, 0.1]]}))
    assert CliRunner().invoke(main, args + ["--calibration", str(tmp_path / "bad.json")]).exit_code != 0


def test_gazetteer_tags_cover_a_name_after_a_split_proclitic():
    norm, tokens = tokens_of("قال وفلاديمير بوتين أمس")
    start = norm.text.index("فلاديمير")
    span = Candidate(start, norm.text.index("بوتين") + len("بوتين"), "PER", 0.85, "list")
    assert gazetteer_tags(tokens, [span]) == ["O", "B-PER", "I-PER", "O"]


def test_sentences_break_at_stops_and_line_breaks_only():
    from workbench.preannotation.crf import sentence_slices
    norm, tokens = tokens_of("قال أحمد. ثم ذهب\nإلى البيت، وعاد؟ نعم")
    assert sentence_slices(norm.text, tokens) == [(0, 2), (2, 4), (4, 7), (7, 8)]


def test_names_the_gazetteer_audit_removed_stay_out_of_the_lists():
    """MODEL_CARD.md, "Gazetteer audit": known only to readers of the sample articles."""
    from workbench.preannotation.gazetteer import name_list_entries
    names = {name for name, _ in name_list_entries()}
    removed = {"لوكورنو", "سيباستيان لوكورنو", "بيستوريوس", "بوريس بيستوريوس", "جون هيلي", "هاوتزرات قيصر", "قياصر"}
    assert not names & removed
    assert {"بوتين", "هاوتزر قيصر"} <= names


def test_preannotate_command_uses_the_configured_model_and_names_a_bad_one(settings_env, sample_corpus, monkeypatch,
                                                                            tmp_path, model):
    from click.testing import CliRunner

    from workbench.cli import main
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(sample_corpus)]).exit_code == 0
    monkeypatch.setenv("WORKBENCH_NER_MODEL", str(model))
    result = runner.invoke(main, ["preannotate"])
    assert result.exit_code == 0 and "+ner." in result.stdout and "annotated 5" in result.stdout
    (tmp_path / "broken.crfsuite").write_bytes(b"not a model")
    monkeypatch.setenv("WORKBENCH_NER_MODEL", str(tmp_path / "broken.crfsuite"))
    broken = runner.invoke(main, ["preannotate"])
    assert broken.exit_code != 0 and "WORKBENCH_NER_MODEL" in broken.output + broken.stderr
