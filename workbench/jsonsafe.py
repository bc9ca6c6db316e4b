"""Parsing JSON that comes from outside (JSONL lines, request bodies) with a nesting-depth limit.

json.loads recurses once per nesting level, so a line of 100,000 brackets raises RecursionError
deep inside it. `loads` first measures the nesting in one linear pass that recurses nowhere
(strings are cut out, then the brackets left are counted) and refuses anything deeper than the
limit; every failure is a JSONInputError whose `kind` says what is wrong in a word or two
("empty", "not UTF-8", "not JSON", "too deep", "not Unicode": a lone surrogate escape such as
\\ud800, which no UTF-8 encoder or database takes) and whose `detail` says it in a sentence. A
leading UTF-8 byte order mark is ignored, as RFC 8259 allows a parser to do."""
from __future__ import annotations

import json
import re
from itertools import accumulate

DEFAULT_MAX_DEPTH = 64
# A string, or an unterminated one running to the end; possessive, so no backtracking: linear.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONInputError(ValueError):
    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def type_name(value) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not
    count). For an invalid text it is at least the depth json.loads would reach before failing."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONInputError("not UTF-8", f"not UTF-8: invalid byte 0x{data[exc.start]:02x} "
                                          f"at byte offset {exc.start}") from None


def loads(data: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH):
    """The JSON value in `data` (UTF-8 bytes or a str), or JSONInputError saying why not."""
    text = decode_utf8(data) if isinstance(data, (bytes, bytearray)) else data
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise JSONInputError("empty", "empty: no JSON value")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JSONInputError("too deep", f"JSON nested {depth} levels deep, over the limit of {max_depth} "
                                         "(WORKBENCH_MAX_JSON_DEPTH)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        joint = " " if exc.msg.endswith(" at") else " at "
        raise JSONInputError("not JSON", f"malformed JSON: {exc.msg}{joint}{where}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise JSONInputError("not JSON", f"malformed JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(value)
    return value


def _refuse_lone_surrogates(value) -> None:
    """A \\ud800-\\udfff escape that is not half of a pair decodes to a str no UTF-8 encoder or
    database takes: refuse it here, naming it, rather than fail on storing it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and (found := _SURROGATE.search(item)):
            raise JSONInputError("not Unicode", f"not valid Unicode: a string holds the lone surrogate "
                                                f"\\u{ord(found.group()):04x}")
