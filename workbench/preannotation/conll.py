"""CoNLL BIO files (`token TAG [TAG ...]` a line, blank line between sentences) read into
sentences with character spans: the tokens are joined by single spaces into the sentence text
and only the first tag column is read (Wojood's extra columns hold nested entities)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError


@dataclass
class Sentence:
    text: str
    entities: list[dict] = field(default_factory=list)  # {"start", "end", "label", "text"}
    where: str = ""  # file:line of the first token


def parse_label_map(spec: str | None) -> dict[str, str] | None:
    """"PERS=PER,LOC=GPE" → {"PERS": "PER", "LOC": "GPE"}; None when no map is given."""
    if not spec:
        return None
    mapping = {}
    for item in spec.split(","):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise InputError(f"--map: {item!r} is not SOURCE=TARGET (e.g. PERS=PER,LOC=GPE)")
        mapping[source.strip()] = target.strip()
    return mapping


def read_conll(path: Path, label_map: dict[str, str] | None = None,
               on_bad_tag: Callable[[str], None] | None = None) -> list[Sentence]:
    """Sentences of a CoNLL file. With a label map, labels outside it are dropped and the
    others renamed; without one, every label is kept as written. A malformed tag raises
    InputError, or, when `on_bad_tag` is given, is reported to it and read as O (public
    corpora have the odd broken line: ANERcorp has `. Oالإصابة O`)."""
    sentences: list[Sentence] = []
    rows: list[tuple[str, str, int]] = []
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the CoNLL file: {exc}")
    for number, line in enumerate(lines + [""], start=1):
        if not line.strip():
            if rows:
                sentences.append(_sentence(path, rows, label_map, on_bad_tag))
                rows = []
            continue
        parts = line.split()
        if len(parts) < 2:
            raise InputError(f"{path}:{number}: expected 'token TAG', got {line!r}")
        rows.append((parts[0], parts[1], number))
    return sentences


def _sentence(path: Path, rows: list[tuple[str, str, int]], label_map: dict[str, str] | None,
              on_bad_tag: Callable[[str], None] | None) -> Sentence:
    text_parts, entities, offset, current = [], [], 0, None
    for token, tag, number in rows:
        start, end = offset, offset + len(token)
        prefix, _, label = tag.partition("-")
        if tag != "O" and (prefix not in ("B", "I") or not label):
            message = f"{path}:{number}: tag {tag!r} is not O, B-LABEL or I-LABEL"
            if on_bad_tag is None:
                raise InputError(message)
            on_bad_tag(message)
            tag, label = "O", ""
        if label_map is not None and label:
            label = label_map.get(label, "")
        if tag == "O" or not label:
            current = None
        elif prefix == "I" and current is not None and current["label"] == label:
            current["end"] = end
        else:
            current = {"start": start, "end": end, "label": label}
            entities.append(current)
        text_parts.append(token)
        offset = end + 1
    text = " ".join(text_parts)
    for entity in entities:
        entity["text"] = text[entity["start"]:entity["end"]]
    return Sentence(text, entities, f"{path}:{rows[0][2]}")
