"""CoNLL BIO files (`token TAG [TAG ...]` a line, blank line between sentences) read into
sentences with character spans: the tokens are joined by single spaces into the sentence text
and only the first tag column is read (Wojood's extra columns hold nested entities).

Comment lines start with `#` (`# id = X`, `# text = ...`, as a release's examples.conll and
CoNLL-U have them); a line `# TAG` with a valid tag is the token `#`. `# id = X` ends the
sentence before it and names the document (the article) the following sentences belong to."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError


@dataclass
class Sentence:
    text: str
    entities: list[dict] = field(default_factory=list)  # {"start", "end", "label", "text"}
    where: str = ""  # file:line of the first token
    document: str | None = None  # the article it belongs to (a `# id =` line, or the release example's id)


ID_COMMENT_RE = re.compile(r"^#\s*id\s*=\s*(.*?)\s*$")


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
    document = None
    for number, line in enumerate(lines + [""], start=1):
        comment = is_comment(line)
        if not line.strip() or comment:
            if rows and (not comment or ID_COMMENT_RE.match(line)):
                sentences.append(_sentence(path, rows, label_map, on_bad_tag, document))
                rows = []
            document = _document_id(line, document) if comment else document
            continue
        parts = line.split()
        if len(parts) < 2:
            raise InputError(f"{path}:{number}: expected 'token TAG', got {line!r}")
        rows.append((parts[0], parts[1], number))
    return sentences


def is_comment(line: str) -> bool:
    """A line starting with # that is not the token # followed by a valid tag."""
    if not line.startswith("#"):
        return False
    parts = line.split()
    return not (len(parts) >= 2 and parts[0] == "#" and is_tag(parts[1]))


def is_tag(tag: str) -> bool:
    prefix, _, label = tag.partition("-")
    return tag == "O" or (prefix in ("B", "I") and bool(label))


def _document_id(line: str, current: str | None) -> str | None:
    match = ID_COMMENT_RE.match(line)
    return match.group(1) if match else current


def _sentence(path: Path, rows: list[tuple[str, str, int]], label_map: dict[str, str] | None,
              on_bad_tag: Callable[[str], None] | None, document: str | None = None) -> Sentence:
    text_parts, entities, offset, current = [], [], 0, None
    for token, tag, number in rows:
        start, end = offset, offset + len(token)
        prefix, _, label = tag.partition("-")
        if not is_tag(tag):
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
    return Sentence(text, entities, f"{path}:{rows[0][2]}", document)
