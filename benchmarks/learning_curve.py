"""The loop, simulated: releases of growing size made from annotated data, each retrained into a
bundle by `workbench retrain` (workbench/retrain.py, the same code path), every bundle and the
shipped default scored on the same fixed held-out articles. The curve says how much a team's own
annotations are worth to the pre-annotator, release after release.

    python benchmarks/learning_curve.py \\
        --anercorp /work/shared/data/anercorp/train.txt \\
        --wojood /work/shared/data/wojood-sample/train.txt /work/shared/data/wojood-sample/val.txt \\
        --out /tmp/learning-curve [--sizes 20,40,80,160] [--iterations 100]

- ANERcorp: blocks of 20 consecutive sentences are articles (as benchmarks/anercorp_cv.py reads
  them), labels PERS→PER, ORG, LOC→GPE (MISC dropped); the last 20 % of the blocks are the fixed
  held-out articles, releases take the first N of the others (90 % train, 10 % dev, the split
  retrain measures the ledger on).
- Wojood sample: its train part makes the releases, its val part is held out; labels PERS→PER,
  ORG, GPE, LOC, NORP, DATE (first tag column).

Two figures per model: `micro`, exact-match micro-F1 over everything the model predicts (a label
the corpus does not annotate counts against it: what an annotator would have to delete), and
`micro_labels`, over the corpus's own labels only (the other predictions ignored, as the
ANERcorp CV scores). Prints a table, writes curve.json and curve.png (matplotlib) to --out. The
data is public research data (see /work/shared/data/README.md); the bundles stay under --out."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import evaluation  # noqa: E402
from workbench.bundles import bundle_preannotator  # noqa: E402
from workbench.preannotation.conll import read_conll  # noqa: E402
from workbench.preannotation.loading import default_preannotator  # noqa: E402
from workbench.preannotation.ner_training import ANERCORP_MAP, DOCUMENT_SENTENCES  # noqa: E402

WOJOOD_LABELS = {"PERS": "PER", "ORG": "ORG", "GPE": "GPE", "LOC": "LOC", "NORP": "NORP", "DATE": "DATE"}
HELD_OUT_SHARE = 0.2


def articles_of(paths: list[Path], label_map: dict, prefix: str) -> list[dict]:
    """Blocks of DOCUMENT_SENTENCES consecutive sentences as articles with character spans."""
    sentences = [s for path in paths for s in read_conll(path, label_map, lambda message: None)]
    out = []
    for n, start in enumerate(range(0, len(sentences), DOCUMENT_SENTENCES)):
        text, entities = "", []
        for sentence in sentences[start:start + DOCUMENT_SENTENCES]:
            offset = len(text)
            entities += [{"start": e["start"] + offset, "end": e["end"] + offset, "label": e["label"],
                          "text": e["text"]} for e in sentence.entities]
            text += sentence.text + "\n"
        for e in entities:
            assert text[e["start"]:e["end"]] == e["text"], (prefix, n, e)
        out.append({"id": f"{prefix}{n:05d}", "text": text, "entities": entities, "stance": {}, "split": None})
    return out


def write_release(path: Path, pool: list[dict], held_out: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    dev_from = len(pool) - max(1, round(len(pool) * 0.1))
    rows = [{**e, "split": "train" if i < dev_from else "dev"} for i, e in enumerate(pool)]
    rows += [{**e, "split": "test"} for e in held_out]
    with path.open("w", encoding="utf-8") as handle:
        for row in sorted(rows, key=lambda r: r["id"]):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def scores(engine, held_out: list[dict], labels: set[str]) -> dict:
    docs = [evaluation.GoldDoc(e["id"], e["text"], e["entities"], {}) for e in held_out]
    everything = evaluation.evaluate(docs, evaluation.predict(docs, engine))["entities"]
    own = evaluation.evaluate(docs, evaluation.predict(docs, engine, {label: label for label in labels}))["entities"]
    return {"micro": everything["micro"]["f1"], "micro_labels": own["micro"]["f1"],
            "per_label": {label: own["per_label"][label]["f1"] for label in sorted(labels) if label in own["per_label"]}}


def retrained(release: Path, workdir: Path, iterations: int) -> Path:
    """The bundle `workbench retrain` makes from the release, in a workbench of its own."""
    os.environ.update({"WORKBENCH_VAR_DIR": str(workdir / "var"),
                       "WORKBENCH_DATABASE_URL": f"sqlite:///{workdir / 'workbench.db'}",
                       "WORKBENCH_EXPORTS_DIR": str(workdir / "exports"), "WORKBENCH_API_TOKEN": "x"})
    from workbench.retrain import retrain
    from workbench.settings import load_settings
    return retrain(load_settings(), str(release), iterations=iterations).path


def curve(name: str, pool: list[dict], held_out: list[dict], sizes: list[int], out: Path, iterations: int) -> dict:
    labels = {e["label"] for a in pool + held_out for e in a["entities"]}
    shipped = scores(default_preannotator([]), held_out, labels)
    print(f"{name}: {len(pool)} articles to release from, {len(held_out)} held out, labels {sorted(labels)}")
    print(f"  shipped default: micro {shipped['micro']:.3f}, on its labels {shipped['micro_labels']:.3f}")
    points = []
    for size in sorted({min(s, len(pool)) for s in sizes}):  # a size past the pool: the whole pool
        started = time.monotonic()
        release = write_release(out / name / f"n{size}" / "examples.jsonl", pool[:size], held_out)
        bundle = retrained(release, out / name / f"n{size}", iterations)
        measured = scores(bundle_preannotator(bundle, []), held_out, labels)
        points.append({"articles": size, **measured, "seconds": round(time.monotonic() - started, 1),
                       "bundle": str(bundle)})
        print(f"  {size:5d} articles: micro {measured['micro']:.3f}, on its labels {measured['micro_labels']:.3f} "
              f"({points[-1]['seconds']:.0f} s) {measured['per_label']}", flush=True)
    return {"held_out": len(held_out), "labels": sorted(labels), "shipped": shipped, "points": points}


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        sizes = [p["articles"] for p in result["points"]]
        for key, style in (("micro", "-o"), ("micro_labels", "--s")):
            line, = ax.plot(sizes, [p[key] for p in result["points"]], style, label=f"retrained, {key}")
            ax.axhline(result["shipped"][key], color=line.get_color(), linestyle=":", label=f"shipped, {key}")
        ax.set_xscale("log")
        ax.set_xlabel("annotated articles in the release")
        ax.set_ylabel(f"exact micro-F1 on {result['held_out']} held-out articles")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anercorp", type=Path)
    parser.add_argument("--wojood", type=Path, nargs=2, metavar=("TRAIN", "VAL"))
    parser.add_argument("--sizes", default="20,40,80,160")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    if args.anercorp:
        blocks = articles_of([args.anercorp], ANERCORP_MAP, "an")
        cut = len(blocks) - round(len(blocks) * HELD_OUT_SHARE)
        results["ANERcorp"] = curve("ANERcorp", blocks[:cut], blocks[cut:], sizes, args.out, args.iterations)
    if args.wojood:
        pool, held_out = (articles_of([p], WOJOOD_LABELS, tag) for p, tag in zip(args.wojood, ("wt", "wv")))
        results["Wojood sample"] = curve("wojood", pool, held_out, sizes, args.out, args.iterations)
    if not results:
        parser.error("give --anercorp and/or --wojood")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curve.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    plot(results, args.out / "curve.png")
    print(f"wrote {args.out / 'curve.json'} and {args.out / 'curve.png'}")


if __name__ == "__main__":
    main()
