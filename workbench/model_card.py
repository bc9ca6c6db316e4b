"""The model card of a bundle (MODEL_CARD.md beside its model.json): what it was trained from, how
it did on the release's test split beside the model it would replace, and what the ledger
changed. Rendered from model.json alone, so it says nothing model.json does not."""
from __future__ import annotations

FILE = "MODEL_CARD.md"


def render(model: dict) -> str:
    release, training = model.get("release") or {}, model.get("training") or {}
    ner = training.get("ner") or {}
    splits = release.get("examples") or {}
    lines = [f"# Model bundle {model['model_version']}", "",
             f"Trained {model.get('created_at', '?')} by `workbench retrain` from release "
             f"{release.get('version') or release.get('path', '?')} (`examples.jsonl` SHA-256 "
             f"`{release.get('examples_sha256', '?')}`; train {splits.get('train', 0)}, dev {splits.get('dev', 0)}, "
             f"test {splits.get('test', 0)} articles). Parent: {model.get('parent') or 'the shipped default'}.", "",
             "## Parts", "",
             f"- CRF entity tagger: labels {', '.join(sorted(ner.get('spans_per_label', {}))) or '-'}, trained on "
             f"{ner.get('articles', 0)} articles ({ner.get('sentences', 0)} sentences, {ner.get('tokens', 0)} tokens), "
             f"{ner.get('iterations', '?')} iterations; spans per label "
             f"{', '.join(f'{k} {v}' for k, v in sorted(ner.get('spans_per_label', {}).items()))}.",
             *(["- The shipped CRF tagger after it, filling what it left (source `crf-shipped`)."]
               if model.get("shipped_tagger_after") else []),
             f"- Learned lexicon: {training.get('lexicon_names', 0)} names the annotators labelled.",
             f"- Stance: {model.get('stance', '?')}.",
             "- The shipped name lists, rules and dictionary, weighed by the ledger below.", ""]
    lines += _evaluation(model.get("evaluation") or {})
    lines += _ledger(model.get("ledger"))
    lines += ["## Use and limits", "",
              "Pre-annotation suggestions for this team's annotators, in this team's conventions (the release's "
              "accepted annotations); every suggestion is reviewed by a person. Figures come from the release's own "
              "test split, which training never read: news of another kind or another convention may score lower. "
              "The bundle holds models trained on the release's texts: it is under the release's licence, and "
              "the shipped data files keep theirs (see the project README, \"Licences and data\").", "",
              f"Use it with `workbench models promote {model['model_version']}` or `WORKBENCH_MODEL=<this folder>`; "
              "its files are checked against `model.json` whenever it is loaded.", ""]
    return "\n".join(lines)


def _evaluation(evaluation: dict) -> list[str]:
    new, current = evaluation.get("new"), evaluation.get("current")
    if not new:
        return ["## Test split", "", "The release has no test split: the bundle was not compared.", ""]
    name = (current or {}).get("bundle", "the current model")
    lines = ["## Test split", "",
             f"Exact-match span F1 on {evaluation.get('documents', 0)} held-out articles, this bundle beside "
             f"{name} (better: {'yes' if evaluation.get('better') else 'no'}).", "",
             "| label | precision | recall | F1 | F1 before |", "|---|---|---|---|---|"]
    before = ((current or {}).get("entities") or {}).get("per_label", {})
    rows = dict(new["entities"]["per_label"])
    rows["micro"] = new["entities"]["micro"]
    before = {**before, "micro": ((current or {}).get("entities") or {}).get("micro", {})}
    for label, row in rows.items():
        lines.append(f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                     f"{before.get(label, {}).get('f1', 0.0):.3f} |")
    stance_new, stance_old = new.get("stance"), (current or {}).get("stance")
    if stance_new:
        lines += ["", f"Stance macro-F1 over FAVOR and AGAINST: {stance_new['macro_f1_favor_against']:.3f} "
                      f"(before {(stance_old or {}).get('macro_f1_favor_against', 0.0):.3f})."]
    return lines + [""]


def _ledger(ledger: dict | None) -> list[str]:
    if not ledger:
        return []
    changed = [r for r in ledger["sources"] if r["action"] != "keep"]
    lines = ["## Ledger", "",
             f"Each source's proposals against the accepted annotations ({ledger['about'].get('documents', 0)} "
             "articles): a pair the annotations contradict is switched off, a weak one down-weighted, and "
             "every span's score is its source's measured precision.", ""]
    if not changed:
        return lines + ["Nothing switched off or down-weighted.", ""]
    lines += ["| source | label | action | proposed | precision |", "|---|---|---|---|---|"]
    lines += [f"| {r['source']} | {r['label']} | {r['action']} | {r['proposed']} | {r['precision']:.3f} |"
              for r in changed]
    return lines + [""]
