"""Rules for what the name lists cannot hold: nationality adjectives (NORP) in all their forms,
date expressions, people named after a title, institutions named by noun + nationality, and
organisations named after a descriptor noun.

Every rule works on the normalised text (see text.py) and returns candidates with offsets into
it; the engine maps them back to the original text."""
from __future__ import annotations

import re
from functools import lru_cache

from .base import Candidate  # the span type lives in base.py; importers of rules.Candidate keep working
from .gazetteer import DATA_DIR, Gazetteer, read_entries
from .text import (PROCLITICS, Token, joined_as_name, normalise_word, proclitic_readings, starts_of, token_starting_at,
                   tokenise_phrase, words_of)


# --- NORP: nisba adjectives -------------------------------------------------------------

NISBA_ENDINGS = ("", "ة", "ون", "ين", "ات")


def nisba_forms(stem: str) -> list[str]:
    """فرنسي → فرنسي، فرنسية، فرنسيون، فرنسيين، فرنسيات, each also with ال; in a two-word stem
    (كوري شمالي) both words take the ending and the article."""
    words = stem.split()
    return [" ".join(article + word + ending for word in words)
            for article in ("", "ال") for ending in NISBA_ENDINGS]


@lru_cache(maxsize=1)
def nationality_entries() -> tuple[tuple[str, str], ...]:
    """NORP words from data/nationality_stems.tsv: a stem ending in ي is inflected, any other
    entry (an irregular plural such as الروس) is taken as written."""
    entries = []
    for word, label in read_entries(DATA_DIR / "nationality_stems.tsv"):
        forms = nisba_forms(word) if word.endswith("ي") else [word]
        entries.extend((form, label) for form in forms)
    return tuple(entries)


# --- DATE ---------------------------------------------------------------------------------

def _alternatives(words: list[str]) -> str:
    """A regex alternation of normalised words, longest first."""
    normalised = sorted({normalise_word(w) for w in words}, key=len, reverse=True)
    return "|".join(re.escape(w) for w in normalised)


WEEKDAY_WORDS = ["الاثنين", "الإثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"]
WEEKDAYS = _alternatives(WEEKDAY_WORDS)
# Bare weekdays that are also common words (الاثنين "both", الجمعة "the assembly", الأحد "the one")
# need يوم or a time of day before them.
UNAMBIGUOUS_WEEKDAYS = _alternatives(["الثلاثاء", "الأربعاء", "الخميس", "السبت"])
GREGORIAN_MONTH_WORDS = ["يناير", "فبراير", "مارس", "أبريل", "إبريل", "ابريل", "مايو", "يونيو", "يونيه", "يوليو",
                         "يوليه", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"]
GREGORIAN_MONTHS = _alternatives(GREGORIAN_MONTH_WORDS)
# آب (August) is also "father": it is only a month next to another month name.
LEVANTINE_MONTH_WORDS = ["كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز", "أيلول", "تشرين الأول",
                         "تشرين الثاني", "كانون الأول"]
LEVANTINE_MONTHS = _alternatives(LEVANTINE_MONTH_WORDS)
MONTH = f"(?:{GREGORIAN_MONTHS}|{LEVANTINE_MONTHS})"
ANY_MONTH = f"(?:{MONTH}|اب)"
ENGLISH_MONTH_WORDS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                       "October", "November", "December"]
ENGLISH_MONTHS = "|".join(ENGLISH_MONTH_WORDS)
TIME_OF_DAY_WORDS = ["مساء", "صباح", "ظهر", "فجر", "ليلة", "عصر", "مساء يوم", "صباح يوم", "ليلة يوم"]
TIME_OF_DAY = _alternatives(TIME_OF_DAY_WORDS)
ANCHORS = _alternatives(["الماضي", "الماضية", "المقبل", "المقبلة", "القادم", "القادمة", "الحالي",
                         "الحالية", "الجاري", "المنصرم", "السابق"])
PERIOD_WORDS = ["العام", "الأسبوع", "الشهر", "السنة", "الصيف", "الشتاء", "الربيع", "الخريف", "اليوم"]
PERIODS = _alternatives(PERIOD_WORDS)
PLURAL_PERIOD_WORDS = ["الأشهر", "الشهور", "الأسابيع", "الأيام", "السنوات", "الأعوام"]
PLURAL_PERIODS = _alternatives(PLURAL_PERIOD_WORDS)
RECENT = _alternatives(["الأخيرة", "الماضية", "المقبلة", "القليلة الماضية"])
SHORT_PERIODS = _alternatives(["أسبوع", "شهر", "عام", "يومين", "أسبوعين", "شهرين", "عامين", "أيام"])
YEAR = r"(?:19|20)\d\d"
YEAR_LEAD_WORDS = ["عام", "العام", "سنة", "مطلع", "أوائل", "أواخر", "نهاية", "بداية", "منتصف"]
YEAR_LEAD = _alternatives(YEAR_LEAD_WORDS)

DATE_PATTERNS = [
    # day? month (/month | (month))? year? anchor?
    rf"(?:\d{{1,2}}\s+)?(?:{MONTH}(?:\s*/\s*{ANY_MONTH}|\s*\(\s*{ANY_MONTH}\s*\))?|اب\s*/\s*{MONTH})"
    rf"(?:\s+(?:عام\s+)?{YEAR})?(?:\s+(?:{ANCHORS}))?",
    rf"(?:(?:{TIME_OF_DAY})\s+)?(?:اليوم\s+)?(?:يوم\s+)?(?:{WEEKDAYS})",
    rf"(?:(?:{TIME_OF_DAY})\s+)?(?:اليوم|امس)\s+(?:{WEEKDAYS})",
    rf"(?:يوم|{TIME_OF_DAY})\s+(?:{WEEKDAYS})",
    rf"{UNAMBIGUOUS_WEEKDAYS}",
    rf"(?:(?:{TIME_OF_DAY})\s+)?(?:اليوم\s+السابق|اليوم|امس|الامس|غدا|البارحه)",
    rf"(?:هذا|هذه)\s+(?:{PERIODS}|الاسبوع|السنه)",
    rf"(?:{PERIODS})\s+(?:{ANCHORS})",
    rf"(?:{PLURAL_PERIODS})\s+(?:{RECENT})",
    rf"قبل\s+(?:نحو\s+|حوالي\s+)?(?:{SHORT_PERIODS})",
    rf"(?<=\s)(?:{YEAR_LEAD})\s+{YEAR}",
    rf"(?<=\bفي\s){YEAR}\b",
    rf"\d{{1,2}}(?:st|nd|rd|th)?,?\s*(?:{ENGLISH_MONTHS}),?\s+{YEAR}",
    rf"(?:{ENGLISH_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+{YEAR}",
]
# A date may sit behind a proclitic (والثلاثاء، بالأمس): the proclitic stays outside the match.
DATE_RE = re.compile(
    r"(?<![^\W_])(?:[وف]?[بلك]|[وف])?(?P<date>" + "|".join(f"(?:{p})" for p in DATE_PATTERNS) + r")(?![^\W_])"
)


# The words a date can start with (after a proclitic), besides digits: DATE_PATTERNS' first words.
DATE_FIRST_WORDS = frozenset(normalise_word(phrase).split()[0] for phrase in [
    *WEEKDAY_WORDS, *GREGORIAN_MONTH_WORDS, *LEVANTINE_MONTH_WORDS, "اب", *ENGLISH_MONTH_WORDS, *TIME_OF_DAY_WORDS,
    "اليوم", "يوم", "أمس", "الأمس", "غدا", "البارحة", "هذا", "هذه", *PERIOD_WORDS, *PLURAL_PERIOD_WORDS, "قبل",
    *YEAR_LEAD_WORDS])


def find_dates(normalised: str, tokens: list[Token] | None = None) -> list[Candidate]:
    """DATE_RE's matches; with the text's tokens, it is only tried where a token can start a date
    (the same matches, several times faster than scanning every position)."""
    if tokens is None:
        matches = DATE_RE.finditer(normalised)
    else:
        matches = _matches_at(normalised, DATE_RE, [tokens[i].start for i in date_starts(tokens)])
    return [Candidate(m.start("date"), m.end("date"), "DATE", 0.75, "date-rule") for m in matches]


PROCLITIC_WORDS = frozenset(PROCLITICS)


def date_starts(tokens: list[Token]) -> list[int]:
    """Tokens a date can start at: a first word, digits, or a bare proclitic (و5 is two tokens)."""
    others = [i for i, word in enumerate(words_of(tokens)) if word in PROCLITIC_WORDS or word[0].isdigit()]
    return sorted(set(starts_of(tokens, DATE_FIRST_WORDS)).union(others))


def _matches_at(text: str, pattern: re.Pattern, starts: list[int]):
    """pattern.finditer's matches, for a pattern that can only match at one of the starts."""
    end = 0
    for start in starts:
        if start >= end:
            match = pattern.match(text, start)
            if match:
                end = match.end()
                yield match


# --- Shared word tests ---------------------------------------------------------------------

FUNCTION_WORDS = frozenset(normalise_word(w) for w in """
في من على إلى الى عن أن إن أنه أنها قد لا لم لن ما ماذا الذي التي الذين مع خلال يوم بعد قبل
حول عبر كما أو ثم حتى منذ هذا هذه ذلك تلك هو هي هم هما كان كانت يكون قال قالت يقول تقول أكد أكدت
أعلن أعلنت أضاف أضافت ذكر ذكرت أشار أشارت أوضح أوضحت صرح صرحت أمس لدى عند بين بشأن ضد نحو
إنه إنها لكن بل كل بعض غير سوى إذا لو أي أيضا فقط جدا وقال وقالت وأكد وأضاف كذلك حيث بينما
السابق الجديد الحالي الأسبق المنتهية ولايته نفسه شخصيا بدوره سيلقي سيزور زار يزور التقى اجتمع
""".split())
# Between a title and a name: spaces and at most one comma (الرئيس الأوكراني، فلودومير زيلينسكي).
COMMA_GAP_RE = re.compile(r"[ \t\u00a0]*[،,]?[ \t\u00a0]*")
ARABIC_WORD_RE = re.compile(r"[\u0621-\u064A]{2,}")
ARTICLE_PREFIXES = ("ال", "بال", "وال", "فال", "كال", "لل")
# Short words starting with ي/ت are mostly imperfect verbs (يجري، تظهر, يكشف).
VERB_LIKE_RE = re.compile(r"[يت]\w{2,3}")


def looks_like_name(word: str, gazetteer: Gazetteer) -> bool:
    """An Arabic word that could be part of a foreign name: not a function word, no article,
    no feminine ending (ة, normalised to ه: mostly common nouns such as مقابلة، حزمة), not a
    short verb form, and not a known name of another kind."""
    if gazetteer.labels.get((word,)) == "PER":
        return True
    return (ARABIC_WORD_RE.fullmatch(word) is not None and not word.startswith(ARTICLE_PREFIXES)
            and not word.endswith("ه") and VERB_LIKE_RE.fullmatch(word) is None
            and word not in FUNCTION_WORDS and gazetteer.label_of_word(word) is None)


def _phrase_table(phrases: list[str]) -> dict[str, list[tuple[str, ...]]]:
    """Phrases grouped by their first normalised word, longest first."""
    table: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        words = tokenise_phrase(phrase)
        table.setdefault(words[0], []).append(words)
    for options in table.values():
        options.sort(key=len, reverse=True)
    return table


def phrase_starts(tokens: list[Token], table: dict[str, list[tuple[str, ...]]]) -> list[int]:
    """Indexes of the tokens that may start a phrase of the table. A set of its first words, not
    its dict keys: the intersection in starts_of then walks the table's few words, not the document's."""
    return starts_of(tokens, frozenset(table))


def match_phrase(text: str, tokens: list[Token], i: int,
                 table: dict[str, list[tuple[str, ...]]]) -> tuple[int, int] | None:
    """(proclitic length, index of the last token) of the longest phrase starting at token i."""
    for prefix, stem in proclitic_readings(tokens[i].text):
        for words in table.get(stem, ()):
            last = i + len(words) - 1
            if last < len(tokens) and _continues(text, tokens, i, words):
                return prefix, last
    return None


def phrase_matches(text: str, tokens: list[Token], table: dict[str, list[tuple[str, ...]]]):
    """(start index, (proclitic length, index of the last token)) of every phrase of the table."""
    for i in phrase_starts(tokens, table):
        match = match_phrase(text, tokens, i, table)
        if match is not None:
            yield i, match


def _continues(text: str, tokens: list[Token], i: int, words: tuple[str, ...]) -> bool:
    return all(tokens[i + k].text == words[k] and joined_as_name(text, tokens[i + k - 1], tokens[i + k])
               for k in range(1, len(words)))


def nationality_run(text: str, tokens: list[Token], j: int, gazetteer: Gazetteer) -> int:
    """How many NORP words directly follow token j - 1 (0 when token j is not one)."""
    count = 0
    while (0 < j + count < len(tokens) and gazetteer.labels.get((tokens[j + count].text,)) == "NORP"
           and joined_as_name(text, tokens[j + count - 1], tokens[j + count])):
        count += 1
    return count


# --- PER after a title ---------------------------------------------------------------------

MINISTRIES = ["الدفاع", "الخارجية", "الداخلية", "المالية", "الخزانة", "العدل", "الطاقة", "الاقتصاد",
              "الصحة", "التجارة", "الصناعة", "الإعلام", "القوات المسلحة", "الشؤون الخارجية"]
TITLES = _phrase_table(
    ["الرئيس", "رئيس الوزراء", "رئيسة الوزراء", "رئيس الحكومة", "رئيسة الحكومة", "رئيس الأركان",
     "رئيس البرلمان", "رئيس مجلس النواب", "رئيسة المفوضية الأوروبية", "رئيس المجلس الأوروبي",
     "المستشار", "المستشارة", "الملك", "الملكة", "الأمير", "ولي العهد", "السيناتور", "النائب",
     "النائبة", "الجنرال", "القائد", "السفير", "السفيرة", "المبعوث", "الأمين العام", "البابا",
     "الزعيم", "المرشح", "المرشحة", "اللواء", "العقيد", "الأدميرال", "المارشال", "نظيره", "نظيرته",
     "نظيرها", "السيد", "السيدة", "عمدة", "حاكم"]
    + [f"{minister} {ministry}" for minister in ("وزير", "وزيرة") for ministry in MINISTRIES]
    + ["وزير", "وزيرة"]
)
NAME_WORDS_AFTER_TITLE = 2


def find_titled_persons(text: str, tokens: list[Token], gazetteer: Gazetteer) -> list[Candidate]:
    """الرئيس الفرنسي إيمانويل ماكرون → PER إيمانويل ماكرون (the NORP comes from the lists)."""
    found = []
    for _, (_, title_end) in phrase_matches(text, tokens, TITLES):
        j = title_end + 1
        j += nationality_run(text, tokens, j, gazetteer)
        name = _name_words(text, tokens, j, gazetteer, person=True)
        if name and COMMA_GAP_RE.fullmatch(text, tokens[j - 1].end, tokens[j].start):
            found.append(Candidate(tokens[j].start, tokens[name[-1]].end, "PER",
                                   0.7 if len(name) > 1 else 0.6, "title-rule"))
    return found


NAME_CONNECTORS = frozenset(normalise_word(w) for w in ["بن", "بنت", "ابن", "أبو", "أبي", "آل", "عبد"])
REGNAL_NUMBERS = frozenset(normalise_word(w) for w in
                           "الأول الثاني الثالث الرابع الخامس السادس السابع الثامن التاسع العاشر".split())


def _name_words(text: str, tokens: list[Token], j: int, gazetteer: Gazetteer, person: bool = False) -> list[int]:
    """Indexes of up to two name-like tokens from j; a known surname ends the name. A person's
    name also reads over Arabic name chains: a connector and the word it joins (عبد الله، محمد بن
    سلمان، أبو الغيط، بن عبد العزيز آل سعود) count as one with the word before them, only further
    chains follow a chain, and a regnal number ends the name (عبد الله الثاني)."""
    indexes: list[int] = []
    chained = False
    while j < len(tokens) and (not indexes or joined_as_name(text, tokens[j - 1], tokens[j])):
        if person and _chain_at(text, tokens, j, gazetteer):
            indexes.append(j)
            chained, j = True, j + 1
            if tokens[j].text not in NAME_CONNECTORS:  # بن عبد العزيز: a connector joins the next word
                indexes.append(j)
                j += 1
            continue
        if chained or len(indexes) == NAME_WORDS_AFTER_TITLE or not looks_like_name(tokens[j].text, gazetteer):
            break
        indexes.append(j)
        if gazetteer.labels.get((tokens[j].text,)) == "PER":
            break
        j += 1
    if (person and indexes and j < len(tokens) and tokens[j].text in REGNAL_NUMBERS
            and joined_as_name(text, tokens[j - 1], tokens[j])):
        indexes.append(j)
    return indexes


def _chain_at(text: str, tokens: list[Token], j: int, gazetteer: Gazetteer) -> bool:
    """A name connector at token j joined to a word that may be a name, the article allowed."""
    if tokens[j].text not in NAME_CONNECTORS or j + 1 >= len(tokens):
        return False
    word = tokens[j + 1].text
    return (joined_as_name(text, tokens[j], tokens[j + 1]) and ARABIC_WORD_RE.fullmatch(word) is not None
            and word not in FUNCTION_WORDS and gazetteer.label_of_word(word) in (None, "PER"))


# --- ORG: institution + nationality, ministries, descriptor + name, alliance + name --------

FEMININE_INSTITUTIONS = ["الحكومة", "القوات المسلحة", "الاستخبارات", "الاستخبارات العسكرية", "المخابرات",
                         "هيئة الأركان", "رئاسة الأركان", "البحرية", "القوات الجوية", "الرئاسة",
                         "الخارجية", "الشرطة", "المحكمة العليا", "القيادة", "وزارة الدفاع",
                         "وزارة الخارجية"] + [f"وزارة {ministry}" for ministry in MINISTRIES]
MASCULINE_INSTITUTIONS = ["الجيش", "الكونغرس", "الكونجرس", "البرلمان", "مجلس النواب", "مجلس الشيوخ",
                          "سلاح الجو", "البنك المركزي", "الحرس الوطني", "خفر السواحل", "مجلس الأمن القومي"]
INSTITUTIONS = _phrase_table(FEMININE_INSTITUTIONS + MASCULINE_INSTITUTIONS)
FEMININE_INSTITUTION_WORDS = frozenset(tokenise_phrase(p) for p in FEMININE_INSTITUTIONS)
MINISTRY_NAMES = _phrase_table([f"وزارة {ministry}" for ministry in MINISTRIES])


def find_institutions(text: str, tokens: list[Token], gazetteer: Gazetteer) -> list[Candidate]:
    """الحكومة الأوكرانية، وزارة الدفاع الروسية، القيادة المركزية الأميركية → ORG; a bare
    وزارة الدفاع is ORG too."""
    found = []
    for i in phrase_starts(tokens, INSTITUTIONS):
        institution = match_phrase(text, tokens, i, INSTITUTIONS)
        if institution is None:
            continue
        prefix, last = institution
        start = tokens[i].start + prefix
        feminine = _institution_words(tokens, i, last, prefix) in FEMININE_INSTITUTION_WORDS
        adjective = _agreeing_nationality(text, tokens, last, feminine, gazetteer)
        if adjective is not None:
            found.append(Candidate(start, tokens[adjective].end, "ORG", 0.75, "institution-rule"))
        elif match_phrase(text, tokens, i, MINISTRY_NAMES):
            found.append(Candidate(start, tokens[last].end, "ORG", 0.6, "ministry-rule"))
    return found


def _institution_words(tokens: list[Token], first: int, last: int, prefix: int) -> tuple[str, ...]:
    head = tokens[first].text[prefix:]
    if head.startswith("ل") and not head.startswith("ال"):
        head = "ا" + head  # للحكومة → ل + الحكومة
    return (head,) + tuple(t.text for t in tokens[first + 1:last + 1])


def _agreeing_nationality(text: str, tokens: list[Token], last: int, feminine: bool,
                          gazetteer: Gazetteer) -> int | None:
    """Index of a nationality adjective after the institution (one other adjective may come
    between: القيادة المركزية الأميركية) that agrees with it in gender. Without agreement the
    adjective belongs elsewhere: in وزير الخارجية الأوكراني it describes the minister."""
    for j in (last + 1, last + 2):
        if j >= len(tokens) or not joined_as_name(text, tokens[j - 1], tokens[j]):
            return None
        word = tokens[j].text
        if gazetteer.labels.get((word,)) == "NORP":
            return j if word.endswith("يه") == feminine else None
        if not word.startswith("ال"):
            return None
    return None


DESCRIPTORS = _phrase_table(["صحيفة", "صحيفتا", "صحيفتي", "وكالة", "شركة", "شركتا", "منصة", "تنظيم",
                             "قناة", "مجلة", "موقع"])
# After شركة an activity noun may come before the name (شركة الأسلحة نكستر).
ACTIVITY_WORDS = frozenset(normalise_word(w) for w in ["الأسلحة", "الصواريخ", "الطاقة", "النفط", "الغاز",
                                                      "الطيران", "الدفاع", "الصناعات"])
CLAUSE_END_RE = re.compile(r"\s*(?:[.,،:;؛!?؟\n\"“”«»()]|$)")


def find_described_orgs(text: str, tokens: list[Token], gazetteer: Gazetteer) -> list[Candidate]:
    """صحيفة X / شركة الأسلحة X → ORG X, descriptor left out. X is one or two name-like words,
    or a single word with the article when it ends the clause (المصدر: موقع النيلين)."""
    found = []
    for _, (_, descriptor_end) in phrase_matches(text, tokens, DESCRIPTORS):
        j = descriptor_end + 1
        if j < len(tokens) and tokens[j].text in ACTIVITY_WORDS:
            j += 1
        if j >= len(tokens) or not joined_as_name(text, tokens[j - 1], tokens[j]):
            continue
        name = _name_words(text, tokens, j, gazetteer) or _clause_final_name(text, tokens, j, gazetteer)
        if name:
            found.append(Candidate(tokens[j].start, tokens[name[-1]].end, "ORG", 0.55, "descriptor-rule"))
    return found


def _clause_final_name(text: str, tokens: list[Token], j: int, gazetteer: Gazetteer) -> list[int]:
    word = tokens[j].text
    if (word.startswith("ال") and not word.endswith("ه") and gazetteer.labels.get((word,)) is None
            and CLAUSE_END_RE.match(text, tokens[j].end)):
        return [j]
    return []


ALLIANCE_HEADS = _phrase_table(["تحالف", "حلف", "مجموعة", "ائتلاف"])
ALLIANCE_WORDS = 4


def find_alliances(text: str, tokens: list[Token], gazetteer: Gazetteer) -> list[Candidate]:
    """تحالف المدفعية، مجموعة الاتصال الدفاعية الأوكرانية → ORG: the head noun and the words with
    the article that follow it."""
    found = []
    for i, head in phrase_matches(text, tokens, ALLIANCE_HEADS):
        last = head[1]
        while (last + 1 < len(tokens) and last - head[1] < ALLIANCE_WORDS
               and tokens[last + 1].text.startswith("ال") and tokens[last + 1].text not in FUNCTION_WORDS
               and joined_as_name(text, tokens[last], tokens[last + 1])):
            last += 1
        if last > head[1] and gazetteer.labels.get((tokens[head[1] + 1].text,)) != "NORP":
            found.append(Candidate(tokens[i].start + head[0], tokens[last].end, "ORG", 0.55, "alliance-rule"))
    return found


# A Latin word with inner capitals (SeaPRwire, YouTube) in Arabic text is a brand or outlet name.
# The look-behind after the first capital, not before it: the scan then only stops at capitals.
CAMEL_CASE_RE = re.compile(r"[A-Z](?<![\w.@/][A-Z])[a-z]+[A-Z][A-Za-z]*(?![\w.@/])")


def find_camel_case_orgs(text: str) -> list[Candidate]:
    return [Candidate(m.start(), m.end(), "ORG", 0.5, "camel-case-rule") for m in CAMEL_CASE_RE.finditer(text)]


# --- NORP compounds: فرانكو-إيطالية ----------------------------------------------------------

COMPOUND_PREFIXES = frozenset(normalise_word(w) for w in ["فرانكو", "أنجلو", "أنغلو", "روسو", "سينو"])


def find_compound_nationalities(text: str, tokens: list[Token], gazetteer: Gazetteer) -> list[Candidate]:
    found = []
    for i in hyphen_joined(text, tokens):
        if gazetteer.labels.get((tokens[i + 1].text,)) != "NORP":
            continue
        prefix = next((p for p, stem in proclitic_readings(tokens[i].text) if stem in COMPOUND_PREFIXES), None)
        if prefix is not None:
            found.append(Candidate(tokens[i].start + prefix, tokens[i + 1].end, "NORP", 0.7, "compound-rule"))
    return found


def hyphen_joined(text: str, tokens: list[Token]) -> list[int]:
    """Indexes i of the tokens that only a hyphen separates from token i + 1."""
    found = []
    for hyphen in re.finditer("-", text):
        after = token_starting_at(tokens, hyphen.end())
        if after and tokens[after - 1].end == hyphen.start():  # after is None or 0: no pair
            found.append(after - 1)
    return found


# --- PER after a title with an organisation: المتحدثة باسم البيت الأبيض، تايلور روجرز --------

ORG_TITLES = _phrase_table(["المتحدث باسم", "المتحدثة باسم", "المتحدث الرسمي باسم", "قائد", "رئيس", "مدير",
                            "مديرة", "الأمين العام", "المدير التنفيذي", "رئيسة"])


def find_persons_after_org_titles(text: str, tokens: list[Token], spans: list[Candidate],
                                  gazetteer: Gazetteer) -> list[Candidate]:
    """A name right after "title + ORG" (an optional comma between), given the ORG spans found."""
    orgs = {span.start: span for span in spans if span.label == "ORG"}
    found = []
    for i in phrase_starts(tokens, ORG_TITLES):
        title = match_phrase(text, tokens, i, ORG_TITLES)
        if title is None or title[1] + 1 >= len(tokens):
            continue
        after = tokens[title[1] + 1].start
        org = next((orgs[start] for start in range(after, after + 3) if start in orgs), None)
        j = token_starting_at(tokens, COMMA_GAP_RE.match(text, org.end).end()) if org else None
        name = _name_words(text, tokens, j, gazetteer, person=True) if j is not None else []
        if name:
            found.append(Candidate(tokens[j].start, tokens[name[-1]].end, "PER", 0.6, "org-title-rule"))
    return found


# --- Language names are not NORP ------------------------------------------------------------

LANGUAGE_WORDS = _phrase_table(["اللغة", "اللغات", "لغة", "لغات"])
LIST_GAP_RE = re.compile(r"[^.\n؟!:]*")


def language_list_ranges(text: str, tokens: list[Token], gazetteer: Gazetteer) -> list[tuple[int, int]]:
    """Ranges holding language names (باللغات الإنجليزية والكورية والروسية): NORP words in them
    are languages, not nationalities."""
    ranges = []
    for i in phrase_starts(tokens, LANGUAGE_WORDS):
        if match_phrase(text, tokens, i, LANGUAGE_WORDS) is None:
            continue
        j = i + 1
        while j < len(tokens) and LIST_GAP_RE.fullmatch(text, tokens[j - 1].end, tokens[j].start):
            if not _is_language_word(tokens[j].text, gazetteer):
                break
            j += 1
        if j > i + 1:
            ranges.append((tokens[i + 1].start, tokens[j - 1].end))
    return ranges


def _is_language_word(word: str, gazetteer: Gazetteer) -> bool:
    """A feminine word, possibly behind و: a nisba (الإنجليزية، الكورية) or a qualifier of one
    (الصينية المبسطة); or any further item of the و-list (والملايو)."""
    return word.startswith("وال") or any(stem.endswith("ه") and gazetteer.labels.get((stem,)) in (None, "NORP")
                                         for _, stem in proclitic_readings(word))
