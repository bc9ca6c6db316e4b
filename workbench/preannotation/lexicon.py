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


def count_labelled_names(path: Path, split: str | None = None) -> tuple[dict[str, Counter], Counter, int]:
    """(name → label counts, name → occurrences in the texts, number of articles); with a split,
    only the examples of that split ("train" when training from a release) are read."""
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
        if split is not None and record.get("split") != split:
            continue
        texts.append(text)
        for name, label, restored in spans:
            if label in SKIPPED_LABELS:
                continue
            (after_lil[restored] if restored else labels[name])[label] += 1
    written = word_occurrences(texts, list(after_lil), "وفبك")
    for restored, counts in after_lil.items():
        labels[restored if written[restored] else restored[1:]].update(counts)
    occurrences = word_occurrences(texts, list(labels), "وفبلك", article_after_lam=True)
    return labels, occurrences, len(texts)


WORD_RE = re.compile(r"[^\W_]+")
WORD_CHAR_RE = re.compile(r"[^\W_]")
MAX_PROCLITICS = 2


def word_occurrences(texts: list[str], names: list[str], proclitics: str,
                     article_after_lam: bool = False) -> Counter:
    """Occurrences of each name in the texts as whole words, after at most two attached letters
    of `proclitics`; with article_after_lam, a name starting with ال also as ل + ل + the rest
    (الحكومة in للحكومة). One pass over the words of each text, the names indexed by their first word."""
    forms: dict[str, list[tuple[str, str]]] = defaultdict(list)  # first word of a written form → (form, name)
    found = Counter({name: 0 for name in names})
    odd = []  # names that do not start with a letter or digit: counted by a regex
    for name in names:
        for form in [name] + (["ل" + name[1:]] if article_after_lam and name.startswith("ال") else []):
            first = WORD_RE.match(form)
            (forms[first.group()].append((form, name)) if first else odd.append(form))
    for text in texts:
        for match in WORD_RE.finditer(text):
            for start, name in _matches_at(text, match, forms, proclitics):
                found[name] += 1
    for name in odd:
        found[name] += sum(_count_by_regex(text, name, proclitics) for text in texts)
    return found


def _matches_at(text: str, match: re.Match, forms: dict, proclitics: str):
    word, start = match.group(), match.start()
    for k in range(min(MAX_PROCLITICS, len(word) - 1) + 1):
        if k and word[k - 1] not in proclitics:
            return
        for form, name in forms.get(word[k:], ()):
            end = start + k + len(form)
            if text.startswith(form, start + k) and not WORD_CHAR_RE.match(text, end):
                yield start + k, name


def _count_by_regex(text: str, name: str, proclitics: str) -> int:
    return len(re.findall(rf"(?<![^\W_])(?:[{proclitics}]{{0,2}}){re.escape(name)}(?![^\W_])", text))


def learned_entries(path: Path, min_count: int = 2, min_labelled_share: float = 0.5,
                    split: str | None = None) -> list[tuple[str, str]]:
    labels, occurrences, _ = count_labelled_names(path, split)
    entries = []
    for name, counts in labels.items():
        label, count = counts.most_common(1)[0]
        total = sum(counts.values())
        if (count >= min_count and count == total and len(normalise_word(name)) > 1
                and total / max(occurrences[name], total) >= min_labelled_share):
            entries.append((name, label))
    return sorted(entries, key=lambda entry: (entry[1], entry[0]))


def write_lexicon(examples: Path, out: Path, min_count: int = 2, split: str | None = None) -> int:
    """Writes a gazetteer file (`name<TAB>LABEL`, source in the first line); returns its size.
    With a split, learned from that split's examples only."""
    entries = learned_entries(examples, min_count, split=split)
    digest = hashlib.sha256(Path(examples).read_bytes()).hexdigest()[:16]
    which = f", {split} split" if split else ""
    lines = [f"# source: learned by `workbench train lexicon` from {Path(examples).name} (sha256 {digest}…{which}): "
             f"names labelled at least {min_count} times, always with the same label"]
    lines += [f"{name}\t{label}" for name, label in entries]
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(entries)
