"""How long `workbench retrain` takes on a release of a given size: a synthetic examples.jsonl
made of ANERcorp's sentences, blocks of 20 consecutive sentences as articles (as
benchmarks/anercorp_cv.py takes them), labels mapped as `workbench train ner` maps them
(PERS→PER, ORG, LOC→GPE; MISC dropped), the blocks repeated until there are N articles, each
article's split from releases.split_of(id) (80/10/10). Only the file is written; run retrain on it:

    python benchmarks/retrain_release.py /work/shared/data/anercorp/train.txt 5000 /tmp/r5000/examples.jsonl
    WORKBENCH_VAR_DIR=/tmp/r5000/var WORKBENCH_DATABASE_URL=sqlite:////tmp/r5000/wb.db \\
        /usr/bin/time -v .venv/bin/workbench retrain --release /tmp/r5000/examples.jsonl --iterations 10

The repeated blocks have ANERcorp's vocabulary (a real release of that size has more distinct
words, which makes the name-likeness scorer's fits slower); the figures are in README.md
("Retraining")."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.preannotation.conll import read_conll  # noqa: E402
from workbench.preannotation.ner_training import ANERCORP_MAP, DOCUMENT_SENTENCES  # noqa: E402
from workbench.releases import split_of  # noqa: E402


def articles(conll: Path, count: int):
    sentences = read_conll(conll, ANERCORP_MAP, lambda message: None)
    blocks = [sentences[i:i + DOCUMENT_SENTENCES] for i in range(0, len(sentences), DOCUMENT_SENTENCES)]
    for n in range(count):
        text, entities = "", []
        for sentence in blocks[n % len(blocks)]:
            offset = len(text)
            entities += [{**e, "start": e["start"] + offset, "end": e["end"] + offset} for e in sentence.entities]
            text += sentence.text + "\n"
        id_ = f"ar{n:05d}"
        yield {"id": id_, "text": text, "entities": entities, "stance": {}, "split": split_of(id_)}


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        sys.exit("usage: python benchmarks/retrain_release.py ANERCORP_TRAIN_TXT N OUT/examples.jsonl")
    out = Path(argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for example in articles(Path(argv[0]), int(argv[1])):
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
