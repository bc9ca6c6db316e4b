"""Span and stance scoring (workbench/evaluation.py) and the `workbench eval` command."""
import json

import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.errors import InputError
from workbench.evaluation import evaluate, load_gold, map_labels, score_entities, score_stance


def span(start, end, label):
    return {"start": start, "end": end, "label": label}


def test_exact_match_counts_per_label_and_micro():
    gold = [[span(0, 5, "PER"), span(10, 15, "GPE"), span(20, 25, "GPE")]]
    predicted = [[span(0, 5, "PER"), span(10, 14, "GPE"), span(30, 35, "ORG")]]
    scores = score_entities(gold, predicted)
    assert scores["micro"]["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert scores["micro"]["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert scores["per_label"]["PER"]["f1"] == 1.0
    assert scores["per_label"]["GPE"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 2, "predicted": 1}
    assert scores["per_label"]["ORG"]["predicted"] == 1 and scores["per_label"]["ORG"]["gold"] == 0


def test_partial_match_needs_overlap_and_the_same_label_and_uses_each_gold_span_once():
    gold = [[span(10, 20, "GPE")]]
    predicted = [[span(8, 12, "GPE"), span(15, 22, "GPE"), span(10, 20, "ORG")]]
    partial = score_entities(gold, predicted, partial=True)
    assert partial["per_label"]["GPE"]["recall"] == 1.0 and partial["per_label"]["GPE"]["precision"] == 0.5
    assert score_entities(gold, predicted)["micro"]["f1"] == 0.0


def test_label_map_applies_to_both_sides_and_drops_the_rest():
    mapping = {"PERS": "PER", "LOC": "GPE"}
    entities = [span(0, 1, "PERS"), span(1, 2, "GPE"), span(2, 3, "MISC"), span(3, 4, "NORP"), span(4, 5, "LOC")]
    assert [e["label"] for e in map_labels(entities, mapping)] == ["PER", "GPE", "GPE"]
    assert map_labels(entities, None) == entities


def test_stance_accuracy_and_macro_f1_over_favor_and_against():
    pairs = [("FAVOR", "FAVOR"), ("AGAINST", "NONE"), ("NONE", "NONE"), ("AGAINST", "AGAINST")]
    scores = score_stance(pairs)
    assert scores["accuracy"] == 0.75
    assert scores["per_label"]["AGAINST"]["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert scores["macro_f1_favor_against"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-4)
    assert score_stance([]) is None


GOLD_TEXT = "قال فلاديمير بوتين إن روسيا لن تنسحب."


def gold_line(**overrides):
    start = GOLD_TEXT.index("فلاديمير بوتين")
    record = {"id": "a", "text": GOLD_TEXT,
              "entities": [{"start": start, "end": start + 14, "label": "PER", "text": "فلاديمير بوتين"},
                           {"start": 22, "end": 27, "label": "GPE", "text": "روسيا"}],
              "stance": {"روسيا": "NONE"}}
    return json.dumps({**record, **overrides}, ensure_ascii=False)


def test_jsonl_gold_is_checked_and_errors_name_line_and_field(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(gold_line() + "\n", encoding="utf-8")
    [doc] = load_gold(path)
    assert doc.id == "a" and doc.stance == {"روسيا": "NONE"} and len(doc.entities) == 2
    path.write_text(gold_line() + "\n" + gold_line(entities=[{"start": 0, "end": 3, "label": "PER", "text": "xyz"}]),
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"gold.jsonl:2: entities\[0\]: text\[0:3\] is 'قال', not 'xyz'"):
        load_gold(path)
    path.write_text(gold_line(stance={"روسيا": "MAYBE"}), encoding="utf-8")
    with pytest.raises(InputError, match=r"gold.jsonl:1: stance\['روسيا'\] is 'MAYBE'"):
        load_gold(path)
    with pytest.raises(InputError, match="not found"):
        load_gold(tmp_path / "missing.jsonl")


def test_evaluate_reports_entities_partial_and_stance():
    class Fixed:
        def annotate(self, text):
            from workbench.preannotation import Prediction
            return Prediction([{"start": 22, "end": 27, "label": "GPE", "text": "روسيا", "score": 0.9}],
                              {"روسيا": {"label": "AGAINST", "score": 0.7, "evidence": []}})

    from workbench.evaluation import GoldDoc, predict
    doc = GoldDoc("a", GOLD_TEXT, json.loads(gold_line())["entities"], {"روسيا": "NONE"})
    report = evaluate([doc], predict([doc], Fixed()))
    assert report["entities"]["micro"]["recall"] == 0.5 and report["entities"]["micro"]["precision"] == 1.0
    assert report["entities"]["partial"]["micro"]["recall"] == 0.5
    assert report["stance"]["accuracy"] == 0.0 and report["stance"]["n"] == 1


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_eval_command_prints_one_json_object(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(gold_line() + "\n", encoding="utf-8")
    result = run("eval", "--gold", str(path), "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert set(report["entities"]["micro"]) >= {"precision", "recall", "f1"}
    assert report["entities"]["per_label"]["PER"]["f1"] == 1.0
    assert report["stance"]["n"] == 1


def test_eval_command_reads_conll_with_a_map(tmp_path):
    path = tmp_path / "gold.txt"
    path.write_text("قال O\nفلاديمير B-PERS\nبوتين I-PERS\nإن O\nروسيا B-LOC\nو O\nالغرب B-MISC\n", encoding="utf-8")
    result = run("eval", "--gold", str(path), "--format", "conll", "--map", "PERS=PER,LOC=GPE", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["entities"]["per_label"]) == {"PER", "GPE"}  # MISC dropped
    assert report["entities"]["per_label"]["PER"]["f1"] == 1.0 and report["stance"] is None
    # the map renames predictions too: the engine's LOC الغرب counts as GPE, against an unlabelled gold
    assert report["entities"]["per_label"]["GPE"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667,
                                                       "gold": 1, "predicted": 2}


def test_eval_command_bad_gold_is_a_clear_error(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text("{not json\n", encoding="utf-8")
    result = run("eval", "--gold", str(path))
    assert result.exit_code == 1 and f"error: {path}:1: not valid JSON" in result.stderr
    result = run("eval", "--gold", str(path), "--map", "PERS")
    assert result.exit_code == 1 and "SOURCE=TARGET" in result.stderr


def test_eval_command_scores_the_model_files_it_is_given(tmp_path):
    from test_preannotation_models import synthetic_conll
    gold = tmp_path / "gold.jsonl"
    gold.write_text(gold_line() + "\n", encoding="utf-8")
    model = tmp_path / "m.crfsuite"
    assert run("train", "ner", "--anercorp", str(synthetic_conll(tmp_path / "train.txt")), "--out", str(model),
               "--iterations", "5").exit_code == 0
    default = json.loads(run("eval", "--gold", str(gold), "--json").stdout)
    trained = run("eval", "--gold", str(gold), "--ner-model", str(model), "--json")
    assert trained.exit_code == 0, trained.stderr
    version = json.loads(trained.stdout)["model_version"]
    assert "+ner." in version and version != default["model_version"] and "+ner." not in default["model_version"]
    assert "model: " + version in run("eval", "--gold", str(gold), "--ner-model", str(model)).stdout


def test_eval_command_model_file_that_does_not_load_is_an_input_error(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(gold_line() + "\n", encoding="utf-8")
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a model")
    result = run("eval", "--gold", str(gold), "--stance-model", str(broken))
    assert result.exit_code == 1 and f"error: --stance-model: cannot load {broken}" in result.stderr
    result = run("eval", "--gold", str(gold), "--ner-model", str(tmp_path / "missing.crfsuite"))
    assert result.exit_code == 1 and "error: --ner-model: cannot load" in result.stderr


def test_train_commands_write_models(tmp_path):
    from test_preannotation_models import synthetic_conll
    conll = synthetic_conll(tmp_path / "train.txt")
    out = tmp_path / "m.crfsuite"
    result = run("train", "ner", "--anercorp", str(conll), "--out", str(out), "--iterations", "5")
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and json.loads(out.with_suffix(".json").read_text())["sentences"] == 30
    assert "iteration 5/5" in result.stderr
    assert run("train", "ner", "--out", str(out)).exit_code == 1


def test_train_lexicon_and_stance_commands(tmp_path):
    line = {"id": "a", "text": "زار سامر الحلبي دمشق وقال سامر الحلبي",
            "entities": [{"start": 4, "end": 15, "label": "PER", "text": "سامر الحلبي"},
                         {"start": 26, "end": 37, "label": "PER", "text": "سامر الحلبي"}],
            "stance": {"روسيا": "FAVOR"}}
    examples = tmp_path / "examples.jsonl"
    examples.write_text(json.dumps(line, ensure_ascii=False) + "\n" +
                        json.dumps({**line, "stance": {"روسيا": "AGAINST"}}, ensure_ascii=False) + "\n")
    result = run("train", "lexicon", str(examples), "--out", str(tmp_path / "lex.tsv"))
    assert result.exit_code == 0 and "1 name(s)" in result.stdout
    result = run("train", "stance", "--data", str(examples), "--out", str(tmp_path / "stance.pkl"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "stance.pkl").is_file()
