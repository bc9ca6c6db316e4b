"""The gazetteer + rules pre-annotator: candidates from the name lists and the rules, overlaps
resolved (longest span, then label priority), labels spread to every mention of a name found
by a rule, and a lexicon stance per target."""
from __future__ import annotations

from functools import lru_cache

from .base import Prediction, PreAnnotator
from .gazetteer import Gazetteer, name_list_entries
from .rules import (Candidate, find_alliances, find_camel_case_orgs, find_compound_nationalities, find_dates,
                    find_described_orgs, find_institutions, find_persons_after_org_titles, find_titled_persons,
                    language_list_ranges, nationality_entries)
from .stance import predict_stance
from .text import NormalisedText, Token, normalise, tokenise

# Same length: the more specific label wins (روسيا اليوم the channel over روسيا the country).
LABEL_PRIORITY = {"ORG": 0, "PER": 1, "WEAPON": 2, "GPE": 3, "LOC": 4, "NORP": 5, "DATE": 6}
LIST_SCORE = 0.9
LIST_WITH_PROCLITIC_SCORE = 0.85
CONSISTENCY_SCORE = 0.65
SPREAD_LABELS = ("PER", "ORG")


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """NORP forms first, so that a name list entry wins when a word is in both."""
    return Gazetteer(nationality_entries() + name_list_entries())


def list_candidates(text: str, tokens: list[Token], gazetteer: Gazetteer, score: float,
                    source: str) -> list[Candidate]:
    found = []
    for i in range(len(tokens)):
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
    occupied = bytearray(max((c.end for c in [*candidates, *taken]), default=0))
    for span in taken:
        occupied[span.start:span.end] = b"\x01" * (span.end - span.start)
    for candidate in sorted(candidates, key=lambda c: (c.start - c.end, LABEL_PRIORITY[c.label], -c.score, c.start)):
        if not any(occupied[candidate.start:candidate.end]):
            occupied[candidate.start:candidate.end] = b"\x01" * (candidate.end - candidate.start)
            accepted.append(candidate)
    return sorted(accepted, key=lambda c: c.start)


def outside_ranges(spans: list[Candidate], label: str, ranges: list[tuple[int, int]]) -> list[Candidate]:
    """The spans minus those with `label` lying inside one of the ranges."""
    return [s for s in spans
            if s.label != label or not any(start <= s.start and s.end <= end for start, end in ranges)]


def names_to_spread(text: str, spans: list[Candidate]) -> list[tuple[str, str]]:
    """(name, label) for every PER/ORG span a rule found, and the surname of every multi-word
    PER (روستيم أوميروف → أوميروف), found by a rule or in the lists."""
    names = []
    for span in spans:
        if span.label not in SPREAD_LABELS:
            continue
        name = text[span.start:span.end]
        if span.source != "list":
            names.append((name, span.label))
        if span.label == "PER" and " " in name:
            names.append((name.rsplit(" ", 1)[1], "PER"))
    return names


class GazetteerRulesPreAnnotator:
    name = "gazetteer-rules"
    version = "0.1.0"

    def __init__(self, targets: list[str], gazetteer: Gazetteer | None = None):
        self.targets = list(targets)
        self.gazetteer = gazetteer or default_gazetteer()

    @property
    def model_version(self) -> str:
        return f"{self.name}-{self.version}"

    def annotate(self, text: str) -> Prediction:
        norm = normalise(text)
        tokens = tokenise(norm.text)
        spans = resolve_overlaps(self._candidates(norm.text, tokens))
        spans = resolve_overlaps(find_persons_after_org_titles(norm.text, tokens, spans, self.gazetteer), taken=spans)
        spans = outside_ranges(spans, "NORP", language_list_ranges(norm.text, tokens, self.gazetteer))
        spans = self._spread_labels(norm.text, tokens, spans)
        return Prediction(entities=[self._entity(norm, span) for span in spans],
                          stance=predict_stance(norm, tokens, self.targets))

    def _candidates(self, text: str, tokens: list[Token]) -> list[Candidate]:
        return (list_candidates(text, tokens, self.gazetteer, LIST_SCORE, "list")
                + find_dates(text)
                + find_titled_persons(text, tokens, self.gazetteer)
                + find_institutions(text, tokens, self.gazetteer)
                + find_described_orgs(text, tokens, self.gazetteer)
                + find_alliances(text, tokens, self.gazetteer)
                + find_camel_case_orgs(text)
                + find_compound_nationalities(text, tokens, self.gazetteer))

    def _spread_labels(self, text: str, tokens: list[Token], spans: list[Candidate]) -> list[Candidate]:
        """Document consistency: a name a rule labelled once gets that label at its other mentions."""
        names = names_to_spread(text, spans)
        if not names:
            return spans
        mentions = list_candidates(text, tokens, Gazetteer(names), CONSISTENCY_SCORE, "consistency")
        return resolve_overlaps(mentions, taken=spans)

    @staticmethod
    def _entity(norm: NormalisedText, span: Candidate) -> dict:
        start, end = norm.to_original(span.start, span.end)
        return {"start": start, "end": end, "label": span.label, "text": norm.original[start:end],
                "score": span.score}


def default_preannotator(targets: list[str]) -> PreAnnotator:
    return GazetteerRulesPreAnnotator(targets)
