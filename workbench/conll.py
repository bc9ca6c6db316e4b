"""CoNLL BIO export with a tokenisation made for Arabic news text.

Tokens are character ranges of the text (offsets are never changed):
1. whitespace separates tokens;
2. every punctuation or symbol character of the Basic Multilingual Plane (Unicode categories
   P* and S*; Arabic ، ؛ ؟ and quotes « » “ ” included) is a token of its own;
3. a token is also cut wherever an entity starts or ends inside it, so a proclitic (و، ب، ل،
   ك، ف، ال...) attached before an entity becomes its own token: "والرئيس" with the entity
   on "الرئيس" gives "و" (O) + "الرئيس" (B-PER). Entity boundaries therefore always fall on
   token boundaries and every entity is exactly a run of B-/I- tokens.
Sentences end at a newline and after . ! ? ؟ …; the file has one `# id = <article id>` line
per article, then `token<TAB>tag` lines, with a blank line after each sentence.
BIO cannot express overlapping spans: of two overlapping entities the one starting first
(the longer at equal start) is kept, and the release's manifest counts the dropped ones."""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from functools import cache

SENTENCE_END = {".", "!", "?", "؟", "…"}


@cache
def token_re() -> re.Pattern:
    """A token is one punctuation or symbol character, or a run of anything else but whitespace."""
    punct = punctuation_class()
    return re.compile(f"[{punct}]|[^\\s{punct}]+")


@cache
def punctuation_class() -> str:
    """A regex character class of every Unicode punctuation and symbol character, as ranges."""
    ranges, first, last = [], None, None
    for code in range(0x10000):  # the BMP only: sre then looks characters up in a bitmap, not a range list
        if unicodedata.category(chr(code))[0] in "PS":
            if first is None or code != last + 1:
                if first is not None:
                    ranges.append((first, last))
                first = code
            last = code
    ranges.append((first, last))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


def non_overlapping(entities: list[dict]) -> tuple[list[dict], int]:
    kept, end = [], -1
    for span in sorted(entities, key=lambda s: (s["start"], -s["end"])):
        if span["start"] >= end:
            kept.append(span)
            end = span["end"]
    return kept, len(entities) - len(kept)


def tokenize(text: str, cuts: set[int] = frozenset()) -> list[tuple[int, int]]:
    """(start, end) of every token; `cuts` are extra offsets where a token must end."""
    points = iter(sorted(cuts))
    cut = next(points, len(text) + 1)
    tokens = []
    for match in token_re().finditer(text):
        start, end = match.span()
        while cut <= start:
            cut = next(points, len(text) + 1)
        while cut < end:
            tokens.append((start, cut))
            start, cut = cut, next(points, len(text) + 1)
        tokens.append((start, end))
    return tokens


def bio_tags(tokens: list[tuple[int, int]], entities: list[dict]) -> list[str]:
    """B-/I- on the tokens inside each entity (an entity's leading or trailing spaces hold no token)."""
    tags = ["O"] * len(tokens)
    starts = [start for start, _end in tokens]
    for span in entities:
        i = bisect_left(starts, span["start"])
        tag = "B-"
        while i < len(tokens) and tokens[i][1] <= span["end"]:
            tags[i] = tag + span["label"]
            tag = "I-"
            i += 1
    return tags


def example_conll(example: dict) -> tuple[str, int]:
    """The CoNLL block of one example and the number of overlapping entities left out."""
    text = example["text"]
    entities, dropped = non_overlapping(example["entities"])
    cuts = {s["start"] for s in entities} | {s["end"] for s in entities}
    tokens = tokenize(text, cuts)
    lines = [f"# id = {example['id']}"]
    previous_end = 0
    for (start, end), tag in zip(tokens, bio_tags(tokens, entities)):
        if "\n" in text[previous_end:start] and lines[-1] != "":
            lines.append("")
        lines.append(f"{text[start:end]}\t{tag}")
        if text[start:end] in SENTENCE_END:
            lines.append("")
        previous_end = end
    if lines[-1] != "":
        lines.append("")
    return "\n".join(lines) + "\n", dropped


def spans_from_bio(text: str, tokens: list[tuple[int, int]], tags: list[str]) -> list[dict]:
    """The entity spans a BIO tagging encodes (used to check the export against the release)."""
    spans: list[dict] = []
    for (start, end), tag in zip(tokens, tags):
        if tag.startswith("B-"):
            spans.append({"start": start, "end": end, "label": tag[2:]})
        elif tag.startswith("I-"):
            spans[-1]["end"] = end
    return [{**s, "text": text[s["start"]:s["end"]]} for s in spans]
