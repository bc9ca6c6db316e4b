"""The pre-annotation engine: entity layers run in priority order (name lists + rules, then the
CRF tagger filling the gaps), overlaps resolved (longest span, then label priority), labels
spread to every mention of a name a rule or the tagger found, and a stance model per target.

A ledger (ledger.py, measured on a release's annotations) can be applied: the (source, label)
pairs it switched off propose nothing, and every output span's score becomes its source's
calibrated precision. Building the default engine from files is loading.py's."""
from __future__ import annotations

import copy
import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter

from .base import Candidate, Prediction
from .crf import CrfTagger
from .gazetteer import Gazetteer, name_list_entries
from .rules import (NAME_CONNECTORS, REGNAL_NUMBERS, find_alliances, find_camel_case_orgs,
                    find_compound_nationalities, find_dates, find_described_orgs, find_institutions,
                    find_persons_after_org_titles, find_titled_persons, language_list_ranges, nationality_entries)
from .stance import predict_stance
from .text import NormalisedText, Token, article_form, normalise, starts_of, tokenise, written_words

# Same length: the more specific label wins (روسيا اليوم the channel over روسيا the country).
LABEL_PRIORITY = {"ORG": 0, "PER": 1, "WEAPON": 2, "GPE": 3, "LOC": 4, "NORP": 5, "DATE": 6}
LIST_SCORE = 0.9
LIST_WITH_PROCLITIC_SCORE = 0.85
# Spread mentions were exactly right 0.40 (PER) and 0.19 (ORG) of the time on the ANERcorp CV
# (benchmarks/anercorp_cv.py, "by_source"): below the tagger's calibrated spans, so that
# least-confident-first work reaches them early.
CONSISTENCY_SCORE = 0.4
SPREAD_LABELS = ("PER", "ORG")
# Tagger spans below this mean marginal are dropped: the tagger is then nearly as likely to be wrong.
CRF_MIN_SCORE = 0.5
FIELD_COLON_RE = re.compile(r"[ \t]*[:：]")
START_OF = attrgetter("start")


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off while a batch is worked through, back on after (if it
    was on): a batch makes hundreds of thousands of short-lived objects, and collections run while
    the engine's large caches are alive scanned them again and again (a fifth of the time).
    Garbage in reference cycles, if any, waits only until the batch ends: the collector's counts
    keep growing meanwhile, so it runs on the first allocation after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """NORP forms first, so that a name list entry wins when a word is in both."""
    return Gazetteer(nationality_entries() + name_list_entries())


def list_candidates(text: str, tokens: list[Token], gazetteer: Gazetteer, score: float,
                    source: str) -> list[Candidate]:
    found = []
    for i in starts_of(tokens, gazetteer.first_words):
        match = gazetteer.match_at(text, tokens, i)
        if match:
            found.append(Candidate(tokens[i].start + match.prefix, tokens[match.last].end, match.label,
                                   score if match.prefix == 0 else min(score, LIST_WITH_PROCLITIC_SCORE),
                                   source))
    return found


def resolve_overlaps(candidates: list[Candidate], taken: list[Candidate] = ()) -> list[Candidate]:
    """Non-overlapping candidates, longest first, then by label priority and score; spans in
    `taken` are kept and block anything overlapping them."""
    accepted = list(taken)
    if not candidates:  # often so for the later layers: nothing to place
        return sorted(accepted, key=START_OF)
    occupied = bytearray(max(c.end for c in [*candidates, *taken]))
    for span in taken:
        occupied[span.start:span.end] = b"\x01" * (span.end - span.start)
    for candidate in sorted(candidates, key=lambda c: (c.start - c.end, LABEL_PRIORITY[c.label], -c.score, c.start)):
        if occupied.find(1, candidate.start, candidate.end) < 0:
            occupied[candidate.start:candidate.end] = b"\x01" * (candidate.end - candidate.start)
            accepted.append(candidate)
    return sorted(accepted, key=START_OF)


def clear_of(candidates: list[Candidate], spans: list[Candidate]) -> list[Candidate]:
    """The candidates that overlap none of the spans."""
    if not candidates or not spans:
        return candidates
    occupied = bytearray(max(c.end for c in [*candidates, *spans]))
    for span in spans:
        occupied[span.start:span.end] = b"\x01" * (span.end - span.start)
    return [c for c in candidates if occupied.find(1, c.start, c.end) < 0]


def outside_ranges(spans: list[Candidate], label: str, ranges: list[tuple[int, int]]) -> list[Candidate]:
    """The spans minus those with `label` lying inside one of the ranges."""
    return [s for s in spans
            if s.label != label or not any(start <= s.start and s.end <= end for start, end in ranges)]


def names_to_spread(text: str, spans: list[Candidate]) -> list[tuple[str, str]]:
    """(name, label) for every PER/ORG span a rule or the tagger found (a span written after
    ل as لل also under its article form: لحكومة البريطانية → الحكومة البريطانية), and the
    surname of every multi-word PER (روستيم أوميروف → أوميروف), found by a rule or in the lists."""
    names = []
    for span in spans:
        if span.label not in SPREAD_LABELS:
            continue
        name = text[span.start:span.end]
        if span.source != "list":
            names.append((name, span.label))
            restored = article_form(text, span.start, span.end)
            if restored:
                names.append((restored, span.label))
        surname = surname_of(name) if span.label == "PER" else None
        if surname:
            names.append((surname, "PER"))
    return names


def surname_of(name: str) -> str | None:
    """The part of a multi-word person's name used alone: the last word, with the connector
    before it (أبو الغيط، بن سلمان) or, before الله, the word it compounds with (نصر الله); none
    for a one-word name, a two-word chain (عبد الله) or a name ending in a regnal number (الثاني)."""
    words = name.split(" ")
    if len(words) < 2 or words[-1] in REGNAL_NUMBERS:
        return None
    if words[-2] in NAME_CONNECTORS or words[-1] == "الله":
        return " ".join(words[-2:]) if len(words) > 2 else None
    return words[-1]


def spelled(norm: NormalisedText, span: Candidate) -> list[str]:
    """The span's words as the original text writes them (text.written_words)."""
    start, end = norm.to_original(span.start, span.end)
    return written_words(norm.original[start:end])


def spelled_words(norm: NormalisedText, spans: list[Candidate]) -> set[str]:
    """Every word of the spans as written; a word after ل as لل (لحكومة) also with its article."""
    words = {word for span in spans for word in spelled(norm, span)}
    return words | {"ا" + word for word in words if word.startswith("ل")}


@dataclass
class Document:
    """What every layer reads: the normalised text, its tokens and the name-list matches;
    `prepared` holds what a layer computed for many documents at once (CrfLayer.prepare).
    A layer hands its candidates to `propose` before resolving overlaps among them."""
    norm: NormalisedText
    tokens: list[Token]
    list_spans: list[Candidate]
    prepared: dict = field(default_factory=dict)
    switched_off: frozenset = frozenset()  # (source, label) pairs that propose nothing (a ledger's)
    proposed: list[Candidate] | None = None  # when recording (ledger.measure): every candidate put forward

    def propose(self, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates that go to overlap resolution: all of them, minus the switched-off
        pairs' (dropped before resolution, so that other candidates may take their text)."""
        if self.proposed is not None:
            self.proposed.extend(candidates)
        if not self.switched_off:
            return candidates
        return [c for c in candidates if (c.source, c.label) not in self.switched_off]


class RulesLayer:
    """Name lists and rules, overlaps resolved; language names taken out of NORP."""
    name = "rules"

    def __init__(self, gazetteer: Gazetteer):
        self.gazetteer = gazetteer

    def spans(self, doc: Document, taken: list[Candidate]) -> list[Candidate]:
        text, tokens = doc.norm.text, doc.tokens
        spans = resolve_overlaps(doc.propose(doc.list_spans + self._rule_candidates(text, tokens)), taken=taken)
        persons = find_persons_after_org_titles(text, tokens, spans, self.gazetteer)
        spans = resolve_overlaps(doc.propose(persons), taken=spans)
        return outside_ranges(spans, "NORP", language_list_ranges(text, tokens, self.gazetteer))

    def _rule_candidates(self, text: str, tokens: list[Token]) -> list[Candidate]:
        return (find_dates(text, tokens)
                + find_titled_persons(text, tokens, self.gazetteer)
                + find_institutions(text, tokens, self.gazetteer)
                + find_described_orgs(text, tokens, self.gazetteer)
                + find_alliances(text, tokens, self.gazetteer)
                + find_camel_case_orgs(text)
                + find_compound_nationalities(text, tokens, self.gazetteer))


class CrfLayer:
    """The statistical tagger: fills what the lists and rules left, never overrides them. `name` is
    the source its spans carry: "crf", or another for a second tagger after the first (a bundle's
    own tagger first, then the shipped one filling what it left: "crf-shipped")."""

    def __init__(self, tagger: CrfTagger, gazetteer: Gazetteer, min_score: float = CRF_MIN_SCORE,
                 name: str = "crf"):
        self.tagger = tagger
        self.gazetteer = gazetteer
        self.min_score = min_score
        self.name = name

    def prepare(self, docs: list[Document]) -> None:
        """Tags all the documents in one go (the tagger decodes their sentences together)."""
        tagged = self.tagger.tag_many([(doc.norm.text, doc.tokens, doc.list_spans) for doc in docs])
        for doc, found in zip(docs, tagged):
            doc.prepared[self.name] = found

    def spans(self, doc: Document, taken: list[Candidate]) -> list[Candidate]:
        text = doc.norm.text
        if self.name not in doc.prepared:
            self.prepare([doc])
        found = self.tagger.candidates_from(doc.tokens, doc.prepared[self.name], self.gazetteer, self.min_score)
        if self.name != "crf":
            found = [c._replace(source=self.name) for c in found]
        return resolve_overlaps(doc.propose([c for c in found if not self._is_field_label(text, c)]), taken=taken)

    def _is_field_label(self, text: str, span: Candidate) -> bool:
        """Boilerplate such as «كلمات دلالية:» or «المصدر:»: a span that is all of a line up to a
        colon. Kept when one of its words is a listed name (a headline «ماكرون: ...»)."""
        line_start = text.rfind("\n", 0, span.start) + 1
        if text[line_start:span.start].strip() or not FIELD_COLON_RE.match(text, span.end):
            return False
        return not any(self.gazetteer.label_of_word(word) for word in text[span.start:span.end].split())


class PreAnnotationEngine:
    """Entity layers in priority order (each keeps what the earlier ones found), document
    consistency, a stance model, and optionally a ledger (see the module docstring)."""
    name = "gazetteer-rules-crf"
    version = "0.4.1"

    def __init__(self, targets: list[str], gazetteer: Gazetteer | None = None, layers: list | None = None,
                 stance_model=None, ledger=None):
        self.targets = list(targets)
        self.gazetteer = gazetteer or default_gazetteer()
        self.layers = layers if layers is not None else [RulesLayer(self.gazetteer)]
        self.stance_model = stance_model or LexiconStance()
        self.ledger = ledger  # a ledger.Ledger, or None: the engine as shipped

    @property
    def model_version(self) -> str:
        """f"{name}-{version}", and the ledger's short fingerprint when one is applied."""
        applied = f"+ledger.{self.ledger.fingerprint[:8]}" if self.ledger is not None else ""
        return f"{self.name}-{self.version}{applied}"

    def with_ledger(self, ledger) -> PreAnnotationEngine:
        """This engine with another ledger; None gives it as shipped (what ledger.measure runs)."""
        engine = copy.copy(self)
        engine.ledger = ledger
        return engine

    def annotate(self, text: str) -> Prediction:
        return self.annotate_many([text])[0]

    def annotate_many(self, texts: list[str]) -> list[Prediction]:
        """annotate for each text; layers that can work on many documents at once do so."""
        with collector_paused():
            return [self._prediction(doc, spans) for doc, spans in self.spans_many(texts)]

    def spans_many(self, texts: list[str], record_proposals: bool = False) -> list[tuple[Document, list[Candidate]]]:
        """Each text's document and final entity spans, in offsets of its normalised text and
        with the layer or rule that proposed each (`source`): what annotate_many reports, before
        the offsets are mapped back (benchmarks measure precision per source with it). With
        record_proposals, each document's `proposed` holds every candidate the layers put
        forward, before overlap resolution and the ledger's switch-offs."""
        with collector_paused():
            docs = [self._document(text) for text in texts]
            for doc in docs:
                doc.proposed = [] if record_proposals else None
            for layer in self.layers:
                if hasattr(layer, "prepare"):
                    layer.prepare(docs)
            return [(doc, self._spans(doc)) for doc in docs]

    def _document(self, text: str) -> Document:
        norm = normalise(text)
        tokens = tokenise(norm.text)
        switched_off = self.ledger.switched_off if self.ledger is not None else frozenset()
        return Document(norm, tokens, list_candidates(norm.text, tokens, self.gazetteer, LIST_SCORE, "list"),
                        switched_off=switched_off)

    def _spans(self, doc: Document) -> list[Candidate]:
        spans: list[Candidate] = []
        for layer in self.layers:
            spans = layer.spans(doc, spans)
        spans = self._spread_labels(doc, spans)
        return self.ledger.rescored(spans) if self.ledger is not None else spans

    def _prediction(self, doc: Document, spans: list[Candidate]) -> Prediction:
        return Prediction(entities=[self._entity(doc.norm, span) for span in spans],
                          stance=self.stance_model.predict(doc.norm, doc.tokens, self.targets))

    def _spread_labels(self, doc: Document, spans: list[Candidate]) -> list[Candidate]:
        """Document consistency: a name a rule or the tagger labelled once gets that label at its
        other mentions, those written with the same letters (not على for علي). It spreads only
        the spans that came out: never a switched-off pair's, which were dropped before."""
        norm = doc.norm
        names = names_to_spread(norm.text, spans)
        if not names:
            return spans
        mentions = list_candidates(norm.text, doc.tokens, Gazetteer(names), CONSISTENCY_SCORE, "consistency")
        seen = spelled_words(norm, [span for span in spans if span.label in SPREAD_LABELS])
        mentions = [m for m in mentions if all(w in seen or "ا" + w in seen for w in spelled(norm, m))]
        # It only fills gaps: a mention over a span found already (the one it spreads from, a
        # surname inside the full name) is none of its proposals (and never comes out).
        mentions = clear_of(mentions, spans)
        return resolve_overlaps(doc.propose(mentions), taken=spans)

    @staticmethod
    def _entity(norm: NormalisedText, span: Candidate) -> dict:
        start, end = norm.to_original(span.start, span.end)
        return {"start": start, "end": end, "label": span.label, "text": norm.original[start:end],
                "score": span.score}


class LexiconStance:
    """The word-list stance baseline of stance.py."""
    name = "lexicon"

    def predict(self, norm: NormalisedText, tokens: list[Token], targets: list[str]) -> dict:
        return predict_stance(norm, tokens, targets)


def rules_only_preannotator(targets: list[str]) -> PreAnnotationEngine:
    """The engine without the statistical layer (for comparisons)."""
    engine = PreAnnotationEngine(targets)
    engine.name, engine.version = "gazetteer-rules", "0.1.0"
    return engine


# Building the default engine from its files moved to loading.py; these names stay importable
# from here (lazily: loading.py imports this module).
MOVED_TO_LOADING = frozenset({"default_preannotator", "default_tagger", "tagger_at", "gazetteer_with",
                              "stance_from_file", "ModelFileError", "file_digest"})


def __getattr__(name: str):
    if name in MOVED_TO_LOADING:
        from . import loading
        return getattr(loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
