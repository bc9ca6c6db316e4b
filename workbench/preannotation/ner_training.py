"""Training the CRF layer: sentences (from CoNLL files, or cut from a release's examples, see
article_sentences) turned into the same tokens and features the tagger sees at run time, then
crfsuite (through sklearn-crfsuite) with L1+L2 regularisation; L1 keeps the model file small.
The model learns every label its training spans carry (the tagger reads them from the model)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pycrfsuite
import sklearn_crfsuite

from ..errors import InputError
from .calibration import Calibration
from .conll import Sentence
from .crf import SENTENCE_BREAK_RE
from .crf_features import LATIN_RE, NameScorer, document_features_per_text, gazetteer_tags
from .crf_sequence import sequence_features, with_cluster_features
from .engine import LIST_SCORE, default_gazetteer, list_candidates
from .gazetteer import Gazetteer
from .text import normalise, proclitic_readings, tokenise, words_of
from . import word_clusters

# ANERcorp's LOC is mostly countries and cities, which the scheme calls GPE; regions, seas and
# continents (LOC in the scheme) come from loc.tsv, and from Wojood's LOC in a model trained with
# it. MISC has no counterpart.
ANERCORP_MAP = {"PERS": "PER", "PER": "PER", "ORG": "ORG", "LOC": "GPE"}
WOJOOD_MAP = {"PERS": "PER", "ORG": "ORG", "GPE": "GPE", "LOC": "LOC"}
PARAMS = {"c1": 0.05, "c2": 0.1, "max_iterations": 300}
NAME_SCORER_PARTS = 5  # blocks of the cross-fitting of the name-likeness scorer
# CoNLL files without `# id =` lines have no document boundaries: the document features of a
# training sentence look at its block of this many consecutive sentences, about one article
# (ANERcorp's average 32 tokens a sentence, 20 sentences ≈ 600 tokens, as long as the project's
# sample articles), so that how often a word recurs means what it means at run time; the
# benchmark tags held-out sentences in the same blocks. ANERcorp CV: 0.755 with 20, 0.756 with 40 (the same, within noise).
DOCUMENT_SENTENCES = 20


def token_labels(sentence: Sentence, tokens, origin) -> list[str]:
    """BIO labels of the run-time tokens from the sentence's character spans: the tokens inside
    a span, and the token whose part before the span is a proclitic (والرئيس for الرئيس: the
    tagger tags the whole word, the engine leaves the proclitic out again, proclitic_length)."""
    labels = ["O"] * len(tokens)
    for entity in sentence.entities:
        inside = [i for i, t in enumerate(tokens) if _inside(t, origin, entity["start"], entity["end"])]
        for k, i in enumerate(inside):
            labels[i] = ("B-" if k == 0 else "I-") + entity["label"]
    return labels


def _inside(token, origin, start: int, end: int) -> bool:
    if origin[token.end - 1] >= end or origin[token.end - 1] < start:
        return False
    lead = sum(1 for i in range(token.start, token.end) if origin[i] < start)
    return lead == 0 or lead in {prefix for prefix, _ in proclitic_readings(token.text)[1:]}


def _prepared(sentence: Sentence, gazetteer: Gazetteer):
    """The sentence's normalised text, tokens, name-list tags and BIO labels."""
    norm = normalise(sentence.text)
    tokens = tokenise(norm.text)
    spans = list_candidates(norm.text, tokens, gazetteer, LIST_SCORE, "list")
    return norm.text, tokens, gazetteer_tags(tokens, spans), token_labels(sentence, tokens, norm.origin)


def document_numbers(count: int, size: int | None = None) -> list[int]:
    """The document each of `count` consecutive sentences belongs to: blocks of `size`
    (default DOCUMENT_SENTENCES)."""
    size = size or DOCUMENT_SENTENCES
    return [i // size for i in range(count)]


def sentence_documents(sentences: list[Sentence]) -> list:
    """The document of each sentence: its own (`document`, an article id) when it has one, else
    its block of DOCUMENT_SENTENCES consecutive sentences (document_numbers)."""
    return [("article", s.document) if s.document is not None else ("block", n)
            for s, n in zip(sentences, document_numbers(len(sentences)))]


def article_sentences(example: dict) -> list[Sentence]:
    """A release example ({"id", "text", "entities"}) cut into the sentences the tagger decodes
    one by one (after . ! ? ؟ and line breaks, never inside a span), each with its spans in its
    own offsets and the example's id as its document. Offsets must already hold (checked by the
    reader)."""
    text, entities = example["text"], sorted(example["entities"], key=lambda e: e["start"])
    cuts = [m.end() for m in SENTENCE_BREAK_RE.finditer(text)
            if not any(e["start"] < m.end() < e["end"] for e in entities)]
    sentences = []
    for start, end in zip([0, *cuts], [*cuts, len(text)]):
        if text[start:end].strip():
            inside = [{**e, "start": e["start"] - start, "end": e["end"] - start}
                      for e in entities if start <= e["start"] and e["end"] <= end]
            sentences.append(Sentence(text[start:end], inside, f"{example['id']}@{start}", str(example["id"])))
    return sentences


def _training_sequences(sentences: list[Sentence], gazetteer: Gazetteer) -> list[tuple]:
    """(features without the name-likeness ones, labels, words) per sentence with tokens, the
    document features over each sentence's document (sentence_documents)."""
    documents: dict[object, list[tuple]] = {}
    for sentence, number in zip(sentences, sentence_documents(sentences)):
        row = _prepared(sentence, gazetteer) if sentence.text else None
        if row and row[1]:
            documents.setdefault(number, []).append(row)
    rows = []
    for block in documents.values():
        per_text = document_features_per_text([(words_of(tokens), tags) for _, tokens, tags, _ in block])
        for (text, tokens, tags, labels), document in zip(block, per_text):
            rows.append((sequence_features(text, tokens, tags, document=document), labels, words_of(tokens)))
    return rows


def progress_trainer(report: Callable[[int, float], None] | None):
    """A trainer class that reports each iteration instead of printing crfsuite's log."""
    def quiet(self, *args):
        return None

    class ProgressTrainer(pycrfsuite.Trainer):
        def __init__(self, algorithm=None, params=None, verbose=False):
            super().__init__(algorithm, params, verbose=True)  # crfsuite only sends events when verbose

        on_start = on_featgen_progress = on_featgen_end = on_prepared = on_optimization_end = on_end = quiet

        def on_iteration(self, log, info):
            if report:
                report(info["num"], info["loss"])
    return ProgressTrainer


def name_class(tag: str) -> str:
    """A BIO tag's class for the name scorer: P person, L place, O anything else. Organisation
    names are mostly ordinary words (وزاره الخارجيه) and count as O: a separate class measured
    no better (ANERcorp CV) and costs one more attribute per token."""
    return {"PER": "P", "GPE": "L", "LOC": "L"}.get(tag[2:], "O")


def fit_name_scorer(pairs) -> NameScorer:
    """Multinomial logistic regression of a word's class (its tokens' commonest name class, O
    outside names) on the character n-grams of its core (NameScorer.grams), over the distinct
    Arabic words of (word, class) pairs; n-grams seen in one word only are left out."""
    from collections import Counter

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    votes: dict[str, Counter] = {}
    for word, label in pairs:
        if word.isalpha() and not LATIN_RE.fullmatch(word):
            votes.setdefault(word, Counter())[label] += 1
    words = sorted(votes)
    labels = [votes[word].most_common(1)[0][0] for word in words]
    vectorizer = CountVectorizer(analyzer=NameScorer.grams, binary=True, min_df=2)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(vectorizer.fit_transform(words), labels)
    classes = [str(label) for label in model.classes_]
    coef = model.coef_ if len(classes) > 2 else [-model.coef_[0] / 2, model.coef_[0] / 2]
    bias = model.intercept_ if len(classes) > 2 else [-model.intercept_[0] / 2, model.intercept_[0] / 2]
    weights = {gram: [round(float(row[i]), 4) for row in coef]
               for i, gram in enumerate(vectorizer.get_feature_names_out())}
    return NameScorer(classes, [round(float(b), 4) for b in bias], weights)


def cross_fitted(data: list[tuple], words: list[tuple[str, ...]], parts: int = NAME_SCORER_PARTS) -> list[tuple]:
    """The sequences with each token's name-likeness features from a scorer fitted without the
    token's block of sentences (contiguous blocks): on the training text a scorer fitted on it
    all would look better than it is on unseen words, and the CRF would trust it too much."""
    size = -(-len(data) // parts)
    out = []
    for k in range(parts):
        held = range(k * size, min((k + 1) * size, len(data)))
        if not held:
            continue
        scorer = fit_name_scorer((w, name_class(tag)) for j, ((_, y), ws) in enumerate(zip(data, words))
                                 if j not in held for w, tag in zip(ws, y))
        likeness: dict[str, tuple[str, ...]] = {}  # per word: a word recurs many times
        for j in held:
            (x, y), ws = data[j], words[j]
            out.append(([(*features, *_cached(likeness, scorer, w)) for features, w in zip(x, ws)],
                        y))
    return out


def _cached(cache: dict, scorer: NameScorer, word: str) -> tuple[str, ...]:
    found = cache.get(word)
    if found is None:
        found = cache[word] = scorer.features(word)
    return found


def train_crf(sentences: list[Sentence], model_path: Path, report: Callable[[int, float], None] | None = None,
              max_iterations: int = PARAMS["max_iterations"], clusters=None) -> dict:
    """Trains and writes the model file; returns what the model card needs. With `clusters`
    (word_clusters.WordClusters, not empty) the model also has word-cluster features and their
    file is written next to it (model.clusters.tsv, recorded in what is returned)."""
    gazetteer = default_gazetteer()
    rows = _training_sequences(sentences, gazetteer)
    data = cross_fitted([(x, y) for x, y, _ in rows], [words for _, _, words in rows])
    data = [(with_cluster_features(x, words, clusters), y) for (x, y), (_, _, words) in zip(data, rows)]
    scorer = fit_name_scorer((w, name_class(tag)) for _, y, words in rows for w, tag in zip(words, y))
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=PARAMS["c1"], c2=PARAMS["c2"], max_iterations=max_iterations,
                               all_possible_transitions=True, model_filename=str(model_path),
                               keep_tempfiles=True, trainer_cls=progress_trainer(report))
    crf.fit([x for x, _ in data], [y for _, y in data])
    scorer_path = NameScorer.path_for(model_path)
    scorer_path.write_text(json.dumps({"method": "multinomial logistic regression of a word's name class (P "
                                                 "person, L place, O other) on its core's character "
                                                 "2-4-grams, fitted on the model's training words",
                                       **scorer.to_json()}, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"sentences": len(data), "tokens": sum(len(y) for _, y in data),
            "entities": sum(sum(tag.startswith("B-") for tag in y) for _, y in data),
            "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(), "bytes": model_path.stat().st_size,
            "params": {**PARAMS, "max_iterations": max_iterations}, "document_sentences": DOCUMENT_SENTENCES,
            "name_scorer": {"file": scorer_path.name, "ngrams": len(scorer.weights), "classes": scorer.classes,
                            "sha256": hashlib.sha256(scorer_path.read_bytes()).hexdigest()},
            **word_clusters.write_for_model(clusters, model_path)}


def read_calibration_file(path: Path) -> dict:
    """A calibration written by benchmarks/anercorp_cv.py --calibration-out, checked."""
    try:
        calibration = json.loads(Path(path).read_text(encoding="utf-8"))
        Calibration(calibration["points"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a score calibration: {exc}")
    return calibration


def write_model_info(model_path: Path, info: dict) -> Path:
    path = Path(model_path).with_suffix(".json")
    path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


# The word classes of common Arabic words (crf_features.word_classes): generated from the
# arramooz-pysqlite dictionary (GPL-3.0) by `python -m workbench.preannotation.ner_training words`.
WORD_TYPES = {"noun": "n", "noun_quant": "n", "abbrev": "n", "adj": "a", "adj_comp": "a", "adj_num": "a",
              "verb": "v", "verb_pseudo": "v", "noun_prop": "p"}
FUNCTION_TYPES = ("adv", "conj", "interj", "part", "prep", "pron")


def arramooz_word_classes() -> dict[str, tuple[str, int]]:
    """Normalised word → (its classes: n noun, a adjective, v verb, V verb lemma, p proper noun,
    f function word; its frequency class, 0-7: the number of digits of arramooz's corpus count, 0
    when it has none). From arramooz's word-frequency list (typed words with counts), its nouns
    (lemmas, their broken, sound and feminine forms) and its verbs (third-person past)."""
    import sqlite3

    import arramooz
    from pyarabic.araby import strip_tashkeel

    from .text import normalise_word
    data = Path(arramooz.__file__).parent / "data"
    classes: dict[str, set[str]] = {}
    counts: dict[str, int] = {}

    def add(word: str, kind: str, count: int = 0) -> None:
        word = normalise_word(strip_tashkeel(word.strip()))
        if len(word) >= 2 and word.isalpha():
            classes.setdefault(word, set()).add(kind)
            counts[word] = max(counts.get(word, 0), count)

    with sqlite3.connect(data / "wordfreq.sqlite") as db:
        for word, kind, count in db.execute("select unvocalized, word_type, freq from wordfreq"):
            kind = "f" if kind.startswith(FUNCTION_TYPES) else WORD_TYPES.get(kind)
            if kind:
                add(word, kind, int(count or 0))
    with sqlite3.connect(data / "arabicdictionary.sqlite") as db:
        for word, plurals, feminable, masculine_plural, feminine_plural in db.execute(
                "select unvocalized, broken_plural, feminable, masculin_plural, feminin_plural from nouns"):
            add(word, "n")
            for plural in (plurals or "").replace("+", " ").replace(";", " ").split():
                add(plural, "n")
            stem = word[:-1] if word.endswith("ة") else word
            if feminable:
                add(stem + "ة", "n")
            if masculine_plural:
                add(stem + "ون", "n")
                add(stem + "ين", "n")
            if feminine_plural:
                add(stem + "ات", "n")
        for (word,) in db.execute("select unvocalized from verbs"):
            add(word, "V")  # crf_features.word_classes adds its forms (verb_forms)
    return {word: ("".join(sorted(kinds)), min(len(str(counts[word])) if counts[word] else 0, 7))
            for word, kinds in classes.items()}


def write_word_classes(path: Path) -> int:
    """Writes data/arabic_words.tsv (crf_features.WORD_CLASSES_FILE); returns its number of words."""
    import importlib.metadata
    version = importlib.metadata.version("arramooz-pysqlite")
    found = arramooz_word_classes()
    lines = [f"# source: arramooz-pysqlite {version} (GPL-3.0, Taha Zerrouki), its wordfreq, nouns and verbs "
             "tables; normalised as text.py does; columns: word, classes (n noun, a adjective, v verb, "
             "V verb lemma, p proper noun, f function word), frequency class (digits of the corpus count, "
             "0 none). Generated by `python -m workbench.preannotation.ner_training words`."]
    lines += [f"{word}\t{kinds}\t{count}" for word, (kinds, count) in sorted(found.items())]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(found)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] != ["words"]:
        sys.exit("usage: python -m workbench.preannotation.ner_training words")
    from .crf_features import WORD_CLASSES_FILE
    print(f"wrote {WORD_CLASSES_FILE}: {write_word_classes(WORD_CLASSES_FILE)} words")
