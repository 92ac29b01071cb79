"""Grounding for a base model's copy: a sentence stays only when its words are the brief's.

The embedded 270M base model writes fluent sentences about things no brief said: "a 14-day
peel-and-stick serum", "It's three in the morning", "하루 종일 카페에서 커피를 마셔요" for a caffeine-free
tea, or a line from a few-shot example ("Grab a four-pack now"). The claims lexicon cannot list
every invention, so the completion strategy keeps a sentence only when most of its content words
come from the brief (product, audience, key messages, CTA, translations, brand and its approved or
example phrases) or from a short list of words any post may use ("today", "your", "지금").
English is compared by five-letter prefixes ("brightens" ~ "brighter"); Korean, which glues particles and
endings to its words, by pairs of Hangul syllables. An instruct model paraphrases on purpose, so the
chat strategy is held to the claims guard instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.copy.claims import support_text
from sparklio_pipelines.content.copy.limits import sentences

EN_MIN_GROUNDED = 0.7  # share of a sentence's content words the brief must have said
KO_MIN_GROUNDED = 0.6  # share of its Hangul syllable pairs; endings (해요, 세요) are partly generic

# Function words, and words any post may use without stating a fact.
_EN_GENERIC = frozenset("""
a an the and or but nor so yet for of in on at to from by with without into onto over under about as than then
is are was were be been being am do does did done have has had having will would can could shall should may might
must it its it's this that these those there here what which who whom whose when where why how all any both each
every few more most other some such no not only own same too very just also even still again ever
i me my mine we us our ours you your yours he him his she her hers they them their theirs one
s t don't can't won't isn't aren't you're we're it's that's let's i'm you've we've
hi hello hey welcome meet try today now new discover get got make made makes feel start ready see find
check out go come enjoy keep day days every everyday life little bit way thing things time times up
buy order shop
""".split())
_KO_GENERIC = ("지금", "오늘", "함께", "만나", "보세요", "하세요", "해요", "세요", "에요", "이에요", "예요", "니다",
               "습니다", "합니다", "드려요", "드립니다", "있어요", "좋아요", "주세요", "여러분", "안녕", "하루", "매일")

_EN_WORD = re.compile(r"[a-z0-9]+")
_HANGUL_RUN = re.compile(r"[가-힣]+")


def _stem(word: str) -> str:
    """A crude stem: the first five letters ("simplified" ~ "simple", "brightens" ~ "brighter")."""
    return word[:5]


def _en_content(text: str) -> list[str]:
    return [_stem(w) for w in _EN_WORD.findall(text.casefold().replace("’", "'")) if w not in _EN_GENERIC]


def _ko_pairs(text: str) -> list[str]:
    return [run[i : i + 2] for run in _HANGUL_RUN.findall(text) for i in range(len(run) - 1)]


@dataclass(frozen=True)
class Vocabulary:
    """What the brief says, as English stems and Korean syllable pairs."""

    stems: frozenset[str]
    pairs: frozenset[str]
    audience_only: frozenset[str] = frozenset()  # units only the audience says: who buys, not what it is
    cta_only: frozenset[str] = frozenset()  # units only the call to action says: what to do, not what it is
    product_facts: frozenset[str] = frozenset()  # units of the product and key messages, brand names aside


def _units(text: str) -> set[str]:
    return {*_en_content(text), *_ko_pairs(text)}


_GENERIC_UNITS = frozenset(_units(" ".join(_KO_GENERIC)))


def brief_vocabulary(brief: Brief, extra: list[str] = ()) -> Vocabulary:
    """The brief's own words (every language it carries), plus `extra` lines (approved copy)."""
    text = "\n".join([support_text(brief), brief.tone, *brief.brand.example_phrases, *brief.brand.tone_words, *extra])
    given = list(brief.translations.values())

    def only_in(lines: list[str]) -> frozenset[str]:
        rest = text
        for line in filter(None, lines):
            rest = rest.replace(line, " ")
        return frozenset(_units("\n".join(filter(None, lines))) - _units(rest) - _GENERIC_UNITS)

    facts = [brief.product, *brief.key_messages, *(line for g in given for line in [g.product, *(g.key_messages or [])])]
    names = _units(" ".join(brief.brand.all_names))
    return Vocabulary(stems=frozenset(_en_content(text)), pairs=frozenset(_ko_pairs(text + " " + " ".join(_KO_GENERIC))),
                      audience_only=only_in([brief.audience, *(g.audience for g in given)]),
                      cta_only=only_in([brief.call_to_action, *(g.call_to_action for g in given)]),
                      product_facts=frozenset(_units("\n".join(filter(None, facts))) - names - _GENERIC_UNITS))


def grounded_share(sentence: str, vocabulary: Vocabulary) -> float:
    """The share of a sentence's content the brief states (0 for a sentence with none: "What do you
    have for me?" says nothing the brief does)."""
    units = [(w, w in vocabulary.stems) for w in _en_content(sentence)]
    units += [(p, p in vocabulary.pairs) for p in _ko_pairs(sentence)]
    return sum(ok for _u, ok in units) / len(units) if units else 0.0


_ADDRESSED = re.compile(r"\bfor\b|위해|위한|에게", re.IGNORECASE)  # "... for busy professionals": copy about them


def _brief_units(text: str, vocabulary: Vocabulary) -> list[str]:
    """The units of `text` the brief says, generic words aside."""
    return [u for u in _units(text) if (u in vocabulary.stems or u in vocabulary.pairs) and u not in _GENERIC_UNITS]


def restates_audience(sentence: str, vocabulary: Vocabulary) -> bool:
    """A sentence whose brief words are all the audience's and that is not addressed to them: the
    targeting note, not copy ("건강한 습관을 찾는 20~30대 직장인입니다." said by the brand). One that also
    names the product or a message is copy."""
    if _ADDRESSED.search(sentence):
        return False
    said = _brief_units(sentence, vocabulary)
    return len(said) >= 2 and all(u in vocabulary.audience_only for u in said)


def is_call_to_action(line: str, vocabulary: Vocabulary) -> bool:
    """A line that says the CTA, in the brief's words or its own ("오늘 주문하세요." for "지금 주문하세요")."""
    said = _brief_units(line, vocabulary)
    return bool(said) and all(u in vocabulary.cta_only for u in said)


def says_nothing_of_the_product(text: str, vocabulary: Vocabulary) -> bool:
    """Copy that names neither the product nor a key message: a greeting, the brand, what to do
    ("안녕하세요, 한빛입니다. 지금 주문하세요.", "오늘 주문하세요.")."""
    return not any(u in vocabulary.product_facts for u in _units(text))


# "I" and "저는/제가/나는/내가": a brand speaks as "we"; a customer's voice the brief did not give is an invented testimonial.
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i’m|i've|i’ve|i'd|i’d|i'll|i’ll|me|my|mine|myself)\b|(?:^|\s)(?:저는|제가|나는|내가)\s",
                           re.IGNORECASE)


def is_testimonial(sentence: str) -> bool:
    """A sentence in the first person singular ("I drink this.", "저는 매일 마셔요.")."""
    return bool(_FIRST_PERSON.search(sentence))


def is_grounded(sentence: str, vocabulary: Vocabulary) -> bool:
    korean = bool(_HANGUL_RUN.search(sentence))
    share = grounded_share(sentence, vocabulary)
    return (share >= (KO_MIN_GROUNDED if korean else EN_MIN_GROUNDED) and not restates_audience(sentence, vocabulary)
            and not is_testimonial(sentence))


def grounded_sentences(text: str, vocabulary: Vocabulary, keep: Callable[[str], bool] = lambda _s: False) -> str:
    """`text` without the sentences the brief does not support (order kept); `keep` spares sentences
    another guard must see whole (a claim is refused and re-asked, not quietly dropped)."""
    return " ".join(s for s in sentences(text) if keep(s) or is_grounded(s, vocabulary))
