"""A gazetteer learned from accepted labels: the names annotators labelled in a release's
examples.jsonl, kept when they were labelled often enough, always with the same label, and
when most of their occurrences in the texts carry a label at all (a word labelled once in ten
occurrences is not a name). A name written after ل as لل (span لحكومة البريطانية in
للحكومة البريطانية) counts as its article form (الحكومة البريطانية) when that form occurs in
the texts; the name lists then find both spellings."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from ..errors import InputError
from .text import article_form, normalise_word

SKIPPED_LABELS = frozenset({"DATE"})  # dates are the rules' business: a list of them does not generalise


def count_labelled_names(path: Path) -> tuple[dict[str, Counter], Counter, int]:
    """(name → label counts, name → occurrences in the texts, number of articles)."""
    labels: dict[str, Counter] = defaultdict(Counter)
    texts, after_lil = [], defaultdict(Counter)
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text, entities = record["text"], record["entities"]
            spans = [(e["text"], e["label"], article_form(text, e["start"], e["end"])) for e in entities]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{number}: expected a JSON object with 'text' and 'entities', "
                             "each entity with start, end, label and text")
        texts.append(text)
        for name, label, restored in spans:
            if label in SKIPPED_LABELS:
                continue
            (after_lil[restored] if restored else labels[name])[label] += 1
    for restored, counts in after_lil.items():
        name = restored if any(_written_with_article(text, restored) for text in texts) else restored[1:]
        labels[name].update(counts)
    occurrences = Counter({name: sum(_count_words(text, name) for text in texts) for name in labels})
    return labels, occurrences, len(texts)


def _written_with_article(text: str, name: str) -> bool:
    return re.search(rf"(?<![^\W_])[وفبك]{{0,2}}{re.escape(name)}(?![^\W_])", text) is not None


def _count_words(text: str, name: str) -> int:
    """Occurrences of the name as whole words, an attached proclitic allowed (الحكومة also as
    للحكومة)."""
    body = re.escape(name)
    if name.startswith("ال"):
        body = f"(?:{body}|ل{re.escape(name[1:])})"
    return len(re.findall(rf"(?<![^\W_])(?:[وفبلك]{{0,2}}){body}(?![^\W_])", text))


def learned_entries(path: Path, min_count: int = 2, min_labelled_share: float = 0.5) -> list[tuple[str, str]]:
    labels, occurrences, _ = count_labelled_names(path)
    entries = []
    for name, counts in labels.items():
        label, count = counts.most_common(1)[0]
        total = sum(counts.values())
        if (count >= min_count and count == total and len(normalise_word(name)) > 1
                and total / max(occurrences[name], total) >= min_labelled_share):
            entries.append((name, label))
    return sorted(entries, key=lambda entry: (entry[1], entry[0]))


def write_lexicon(examples: Path, out: Path, min_count: int = 2) -> int:
    """Writes a gazetteer file (`name<TAB>LABEL`, source in the first line); returns its size."""
    entries = learned_entries(examples, min_count)
    digest = hashlib.sha256(Path(examples).read_bytes()).hexdigest()[:16]
    lines = [f"# source: learned by `workbench train lexicon` from {Path(examples).name} (sha256 {digest}…): "
             f"names labelled at least {min_count} times, always with the same label"]
    lines += [f"{name}\t{label}" for name, label in entries]
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(entries)
