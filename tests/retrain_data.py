"""Synthetic releases for the retraining tests: made-up Arabic news sentences whose spans follow
conventions the shipped model does not know (WEAPON for made-up weapon names after منظومة, NORP,
DATE), written by the release code itself (releases.write_version)."""
import random
from pathlib import Path

from workbench.releases import split_of, write_version

FIRST = ["زاهر", "نبيل", "هشام", "ماجد", "فراس", "رامي", "وسيم", "باسل"]
LAST = ["القباني", "الدوري", "الحمصي", "الزعبي", "الطحان", "العطار", "النحاس"]
PLACES = ["تدمر", "حمص", "جبلة", "بانياس", "دوما", "سلمية"]
WEAPONS = ["قرطال", "سنداب", "ترماح", "زنبار", "دملوج", "كرزان", "شنقور", "برطاش", "فلقاس"]
DAYS = ["يوم الاثنين", "يوم الثلاثاء", "يوم الأربعاء", "يوم الخميس"]
# filler words: articles must differ enough not to be near-duplicates (one duplicate group shares a split)
FILLER = """المصادر الرسمية الميدانية الأخيرة الحكومية الجديدة الوضع الأمني الاقتصادي المحلي السكان المزارعون
الأسواق الطرق المدارس المستشفيات الكهرباء المياه الخبز الوقود الأسعار الرواتب الشتاء الصيف المطر الثلج الغبار
الرياح القمح القطن الزيتون المصانع العمال الطلاب الأطباء الصحفيون المراسلون اللجنة البلدية الحي الشارع""".split()


def sentence(k: int) -> tuple[str, list[tuple[str, str]]]:
    """A sentence and its (text, label) spans, in order."""
    person = f"{FIRST[k % len(FIRST)]} {LAST[(k // 2) % len(LAST)]}"
    weapon, place, day = WEAPONS[k % len(WEAPONS)], PLACES[(k // 3) % len(PLACES)], DAYS[k % len(DAYS)]
    if k % 2:
        return (f"قال {person} إن منظومة {weapon} وصلت إلى مدينة {place} {day}.",
                [(person, "PER"), (weapon, "WEAPON"), (place, "GPE"), (day, "DATE")])
    return (f"وأكد الجنود السوريون أن منظومة {weapon} أسقطت طائرة قرب {place}.",
            [("السوريون", "NORP"), (weapon, "WEAPON"), (place, "GPE")])


def filler(rng: random.Random) -> str:
    return "وذكرت " + " ".join(rng.sample(FILLER, 8)) + "."


def article(number: int, sentences: int = 6, stance: dict | None = None) -> dict:
    text, entities, rng = "", [], random.Random(number)
    for k in range(sentences):
        part, spans = sentence(number * 7 + k)
        part += " " + filler(rng)
        offset = len(text)
        cursor = 0
        for written, label in spans:
            start = part.index(written, cursor)
            entities.append({"start": offset + start, "end": offset + start + len(written), "label": label,
                             "text": written})
            cursor = start + len(written)
        text += part + ("\n" if k < sentences - 1 else "")
    return {"id": f"a{number:04d}", "text": text, "entities": entities, "stance": stance or {}, "split": None}


def stance_for(number: int) -> dict:
    return {"روسيا": "FAVOR" if number % 2 else "AGAINST"}


def write_release(exports: Path, count: int = 40, with_stance=None) -> Path:
    """exports/vNNNN/ with `count` articles; with_stance(number) → the article's stance dict."""
    examples = [article(n, stance=with_stance(n) if with_stance else None) for n in range(count)]
    items = lambda: ((e, {"annotator": "test"}) for e in examples)  # noqa: E731
    version, _ = write_version(exports, items, {"review_policy": "submitted"})
    return exports / version


def splits(count: int) -> dict:
    found = {}
    for n in range(count):
        found.setdefault(split_of(f"a{n:04d}"), []).append(n)
    return found


_BUILT: dict = {}


def built_bundle(tmp_path_factory) -> tuple[Path, Path]:
    """(release directory, bundle directory): a 60-article release without stance labels and
    the bundle `retrain` makes of it (few CRF iterations), built once per test session."""
    if "bundle" not in _BUILT:
        from conftest import make_settings

        from workbench.retrain import retrain
        home = tmp_path_factory.mktemp("retrained")
        settings = make_settings(home)
        release = write_release(settings.exports_dir, 60)
        _BUILT["bundle"] = (release, retrain(settings, "latest", iterations=30).path)
    return _BUILT["bundle"]


def unseen_weapon_text() -> str:
    """A sentence in the release's frame with a weapon name no article has."""
    return "قال زاهر الدوري إن منظومة طرمول وصلت إلى مدينة تدمر يوم الاثنين."
