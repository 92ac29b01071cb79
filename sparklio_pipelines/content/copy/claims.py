"""The claims guard: copy may not state a claim the brief does not support.

A claim is a figure with its unit ("10분", "100ml", "15%"), or a phrase from the claims lexicon:
superlatives and rankings, health / medical / safety / certification claims, guarantees, and the
brand kit's own `claims` words. A claim is supported when the brief's own text states it: product,
audience, key messages, call to action, their translations, brand name and required terms (tone
and voice notes are instructions, not facts). Figures match on value AND unit, so "10잔" does not
license "10분" and "100%" does not license "100ml". Lexicon phrases match by concept across
languages, so "caffeine free" in the English facts supports "카페인 없이" in the Korean copy.

Both languages' lexicons apply to every text: a wrong-language reply is where made-up claims hide
("최고의 선택" in an English post). Pure text logic, the same for every model backend.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.copy.schemas import CopyDeck
from sparklio_pipelines.content.quality import iter_variants, variant_texts
from sparklio_pipelines.content.text import is_korean

# kind -> concept -> (English patterns, Korean patterns). English patterns match whole words
# (case-insensitive); Korean ones match inside a word, since Korean glues particles on ('최고의').
_LEXICON: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "superlative": {
        "best": ((r"best(?:[- ]?sell(?:ing|er)s?)?", r"greatest", r"finest", r"top[- ](?:rated|selling|quality)"),
                 (r"최고", r"최상", r"베스트", r"으뜸")),
        "first": ((r"(?:world|korea|industry)'?s first", r"first[- ]ever", r"the first to", r"first of its kind"),
                  (r"최초",)),
        "only": ((r"the only", r"only one", r"one and only"), (r"유일", r"하나뿐", r"단 하나")),
        "number one": ((r"#\s?1", r"no\.?\s?1", r"number[- ]one", r"rank(?:ed|s)? (?:#?1|first)"),
                       (r"1위", r"넘버\s?원")),
        "most": ((r"the most (?!of\b)\w+", r"(?:fast|strong|safe|health|pur|fresh|smooth|rich|cheap|high|low)est"),
                 (r"가장", r"최강", r"최대", r"최저", r"최다", r"독보적", r"압도적", r"단연")),
        "unmatched": ((r"unbeatable", r"unmatched", r"unrivall?ed", r"unparall?eled", r"second to none",
                       r"world[- ]class", r"industry[- ]leading", r"leading", r"award[- ]winning", r"revolutionary"),
                      (r"타의 추종", r"비교할 수 없", r"세계적", r"업계 선두", r"수상 경력", r"어워드")),
    },
    "health": {
        "cure": ((r"cur(?:e|es|ed|ing)", r"heal(?:s|ed|ing)?", r"remed(?:y|ies)", r"therap(?:y|ies|eutic)"),
                 (r"완치", r"치료", r"치유")),
        "medical": ((r"medic(?:al|ine|inal)", r"pharmaceutical", r"prescription", r"hospital"),
                    (r"의학", r"의약", r"약효", r"처방", r"병원")),
        "condition": ((r"diseases?", r"symptoms?", r"acne", r"eczema", r"inflammat(?:ion|ory)", r"anti-inflammatory"),
                      (r"질병", r"질환", r"증상", r"여드름", r"아토피", r"염증", r"항염")),
        "prevents": ((r"prevent(?:s|ed|ing|ion)?",), (r"예방",)),
        "relief": ((r"reliev(?:e|es|ed|ing)", r"relief"), (r"완화",)),
        "immunity": ((r"immun(?:e|ity)",), (r"면역",)),
        "detox": ((r"detox(?:es|ing|ify|ifies|ification)?",), (r"해독", r"디톡스")),
        "efficacy": ((r"effective(?:ly|ness)?", r"efficacy", r"instant(?:ly)? results?"),
                     (r"효능", r"효과", r"효력", r"즉각")),
        "clinical": ((r"clinical(?:ly)?",), (r"임상",)),
        "proven": ((r"proven", r"scientifically", r"science[- ]backed", r"backed by (?:science|research)",
                    r"stud(?:y|ies) (?:show|prove)s?", r"research (?:shows|proves)"),
                   (r"입증", r"검증", r"과학적", r"연구 결과")),
        "tested": ((r"(?:lab|dermatologically|dermatologist)[- ]tested", r"tested"), (r"테스트 완료", r"시험 완료")),
        "expert": ((r"dermatologists?", r"doctors?", r"physicians?"), (r"피부과", r"의사(?!결정|소통|표현)", r"전문의")),
        "authority": ((r"FDA", r"USDA", r"HACCP", r"GMP"), (r"식약처", r"식품의약품안전처")),
        "certified": ((r"certifi(?:ed|cation|cate)", r"approved by"), (r"인증(?!샷)", r"허가")),
        "patent": ((r"patent(?:s|ed)?",), (r"특허",)),
        "gluten free": ((r"gluten[- ]free", r"(?:no|without) gluten"), (r"글루텐\s?프리", r"글루텐\s?없", r"[무논]글루텐")),
        "sugar free": ((r"sugar[- ]free", r"no (?:added )?sugars?", r"zero sugar", r"unsweetened"),
                       (r"무설탕", r"무가당", r"설탕\s?없", r"슈거\s?프리", r"제로\s?슈거")),
        "caffeine free": ((r"caffeine[- ]free", r"(?:no|zero|without) caffeine", r"decaf(?:feinated)?",
                           r"non-caffeinated"),
                          (r"[무논디]카페인", r"카페인\s?없", r"카페인\s?프리", r"카페인\s?제로")),
        "fragrance free": ((r"fragrance[- ]free", r"unscented", r"no fragrance"), (r"무향", r"향료\s?무첨가")),
        "additive free": ((r"(?:additive|preservative|chemical|paraben)[- ]free",
                           r"no (?:additives|preservatives|chemicals|parabens)"),
                          (r"무첨가", r"무방부제", r"방부제\s?없", r"첨가물\s?없", r"무파라벤")),
        "dairy free": ((r"(?:dairy|lactose)[- ]free",), (r"유당\s?없", r"락토\s?프리")),
        "vegan": ((r"vegan", r"plant[- ]based", r"cruelty[- ]free"), (r"비건", r"식물성")),
        "organic": ((r"organic(?:ally)?",), (r"유기농", r"오가닉")),
        "non-GMO": ((r"non[- ]?GMO", r"GMO[- ]free"), (r"유전자\s?변형", r"[비무]\s?GMO")),
        "natural": ((r"all[- ]natural", r"100% natural", r"natural ingredients"), (r"천연", r"자연\s?유래")),
        "safe": ((r"safe(?:r|st|ty)?", r"harmless", r"non[- ]toxic", r"hypoallergenic", r"side effects?"),
                 (r"안전", r"무해", r"무독성", r"부작용", r"저자극")),
        "weight loss": ((r"weight[- ]loss", r"los(?:e|es|ing) weight", r"slimming", r"fat[- ]burning",
                         r"burns? fat", r"metabolism", r"diet(?:s|ing)?"),
                        (r"다이어트", r"체중", r"살\s?빠", r"감량", r"지방\s?(?:연소|분해)", r"신진대사")),
        "good for health": ((r"good for (?:you|your (?:health|body))", r"boosts? (?:your )?(?:health|immunity)"),
                            (r"건강에 좋", r"몸에 좋", r"건강을 지켜")),
        # 'healthy' said of the product, not of the buyer's habits: '건강한 습관' (an audience) is no claim
        "healthy product": ((r"health(?:y|ier|iest) (?:[a-z-]+ )?(?:teas?|drinks?|beverages?|snacks?|foods?|"
                             r"choices?|options?|products?|coffees?|treats?|alternatives?|serums?)",
                             r"health (?:drinks?|foods?)"),
                            (r"건강한 (?:[^\s,.!?]+ )?(?:[가-힣]*차|음료|간식|식품|선택|제품|커피)",
                             r"건강\s?(?:음료|식품)")),
        "anti-aging": ((r"anti[- ]?ag(?:e)?ing", r"wrinkles?", r"younger[- ]looking"),
                       (r"주름", r"안티에이징", r"노화\s?방지", r"미백")),
        "antioxidant": ((r"antioxidants?",), (r"항산화",)),
        "sleep": ((r"sleep (?:better|well|deeper)", r"better sleep", r"deep(?:er)? sleep", r"fall asleep",
                   r"restful sleep"), (r"숙면", r"꿀잠", r"잠이 잘", r"수면")),
    },
    "endorsement": {  # popularity a brief must state: who loves it, how many
        "loved by many": ((r"loved by", r"(?:thousands|millions|hundreds) of", r"fan[- ]favou?rite",
                           r"customers? (?:love|rave)", r"best[- ]loved"),
                          (r"수천", r"수만", r"수백만", r"사랑받", r"입소문")),
    },
    "offer": {  # deals a brief must state: a tiny model copies "Grab a four-pack" from anywhere
        "multipack": ((r"(?:two|three|four|five|six|twelve|\d+)[- ]packs?", r"bundles? of"),
                      (r"\d\s?\+\s?\d", r"묶음", r"번들")),
        "free extra": ((r"free (?:gift|shipping|delivery|sample|trial)s?", r"buy one,? get one", r"bogo"),
                       (r"무료\s?배송", r"사은품", r"증정", r"덤으로")),
        "discount": ((r"\d+\s?% off", r"discount(?:s|ed)?", r"on sale", r"half[- ]price", r"coupons?"),
                     (r"할인", r"세일", r"반값", r"쿠폰", r"특가")),
    },
    "attribute": {  # taste a brief must state: '달콤한' for a coffee whose brief never says sweet
        "sweet": ((r"sweet(?:er|est|ness)?",), (r"달콤", r"달달", r"단맛")),
    },
    "guarantee": {
        "guarantee": ((r"guarantee(?:s|d)?", r"we promise", r"promised results?"),
                      (r"무조건", r"보장", r"보증", r"틀림없")),
        "refund": ((r"money[- ]back", r"refunds?"), (r"환불",)),
        "satisfaction": ((r"100% satisfaction", r"satisfaction guaranteed"), (r"100%\s?만족", r"만족도\s?100")),
        "risk free": ((r"risk[- ]free", r"no risk"), (r"위험\s?없",)),
        "permanent": ((r"permanent(?:ly)?", r"lifetime", r"forever"), (r"평생", r"영구")),
    },
}

# Figures. A unit is normalized so English and Korean agree (14 days = 14일, 1 liter = 1리터).
_UNITS: dict[str, str] = {}
for _unit, _names in {
    "%": ("%", "percent", "per cent", "pct", "퍼센트", "프로"),
    "second": ("sec", "secs", "second", "seconds", "초"),
    "minute": ("min", "mins", "minute", "minutes", "분"),
    "hour": ("h", "hr", "hrs", "hour", "hours", "시간"),
    "day": ("day", "days", "일", "일간"),
    "week": ("wk", "week", "weeks", "주", "주일", "주간"),
    "month": ("month", "months", "개월", "달"),
    "year": ("yr", "yrs", "year", "years", "년", "년간"),
    "month of year": ("월",),
    "liter": ("l", "ℓ", "liter", "liters", "litre", "litres", "리터"),
    "ml": ("ml", "milliliter", "milliliters", "millilitre", "밀리리터"),
    "g": ("g", "gram", "grams", "그램"),
    "kg": ("kg", "kilo", "kilos", "kilogram", "kilograms", "킬로그램", "킬로"),
    "mg": ("mg", "milligram", "milligrams", "밀리그램"),
    "kcal": ("kcal", "cal", "calorie", "calories", "칼로리", "킬로칼로리"),
    "cup": ("cup", "cups", "glass", "glasses", "잔"),
    "times": ("x", "×", "times", "fold", "배"),
    "people": ("people", "person", "persons", "명"),
    "piece": ("piece", "pieces", "pcs", "개"),
    "kind": ("kind", "kinds", "type", "types", "가지", "종"),
    "step": ("step", "steps", "단계"),
    "rank": ("위", "등"),
    "decade of age": ("대", "s"),  # 20대 = in their 20s
    "won": ("won", "원", "₩"),
    "dollar": ("$", "usd", "dollar", "dollars"),
}.items():
    for _name in _names:
        _UNITS[_name] = _unit
_MEASURES = {"%", "second", "minute", "hour", "day", "week", "month", "year", "liter", "ml", "g", "kg", "mg", "kcal",
             "times"}  # the units a spelled-out number states a figure in
_KO_UNITS = sorted((n for n in _UNITS if is_korean(n)), key=len, reverse=True)  # longest prefix first
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_NUMBER_WORDS |= {"fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100",
                  "두": "2", "세": "3", "네": "4"}  # Korean native numbers only before 배 ("두 배": twice)
_NUM = r"\d+(?:[.,]\d+)*"
_FIGURE = re.compile(
    rf"(?P<cur>[$₩]\s?)?(?<![\d.,])(?P<num>{_NUM})(?:\s?[-~–]\s?(?P<num2>{_NUM}))?"
    r"(?:(?P<attached>%|[A-Za-z]+|[가-힣]+)|[\s-](?P<spaced>%|percent|per cent|[A-Za-z]+\b|[가-힣]+))?"
)
_MONTH_BEFORE = re.compile(r"\d\s?월\s?$")
_SPELLED = re.compile(
    r"(?<!\w)(?P<word>" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
    r"(?P<half>[\s-]and[\s-]a[\s-]half)?[\s-](?P<unit>[A-Za-z%가-힣]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """One claim a text states: its words as written, its kind (figure, superlative, health,
    guarantee, brand), and the concept a brief must state to support it ("10 minute", "best")."""

    words: str
    kind: str
    concept: str
    start: int = 0
    end: int = 0

    def describe(self) -> str:
        return f"{self.kind} claim {self.words!r}"


@dataclass(frozen=True)
class Facts:
    """What a brief states: its lexicon concepts, and its figures as (value, unit or None)."""

    concepts: frozenset[str]
    figures: frozenset[tuple[str, str | None]]
    extra: tuple[str, ...] = ()

    def supports(self, claim: Claim) -> bool:
        if claim.kind != "figure":
            return claim.concept in self.concepts
        value, _, unit = claim.concept.partition(" ")
        if (value, unit or None) in self.figures:
            return True
        if not unit:
            return any(v == value for v, _u in self.figures)  # a bare number: the brief states it somehow
        # A counted thing names what a bare brief number counts ('up to 5' -> '5 people'); a measure
        # changes what it says ('10' is no licence for '10 minutes').
        return unit not in _MEASURES and (value, None) in self.figures


def _word_pattern(fragment: str) -> str:
    # Latin phrases are whole words (never 'cure' in 'secure'); Korean ones sit inside a word.
    return fragment if is_korean(fragment) else rf"(?<![\w#]){fragment}(?!\w)"


@functools.lru_cache(maxsize=1)
def _builtin_patterns() -> tuple[tuple[re.Pattern[str], str, str], ...]:
    found = []
    for kind, concepts in _LEXICON.items():
        for concept, (english, korean) in concepts.items():
            for fragment in (*english, *korean):
                found.append((re.compile(_word_pattern(fragment), re.IGNORECASE), kind, concept))
    return tuple(found)


@functools.lru_cache(maxsize=64)
def _brand_patterns(extra: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], str, str], ...]:
    found = []
    for word in extra:
        word = word.strip()
        if word:
            body = re.escape(word) if is_korean(word) else rf"{re.escape(word)}\w*"  # 'clinically' by 'clinical'
            found.append((re.compile(_word_pattern(body), re.IGNORECASE), "brand", word.casefold()))
    return tuple(found)


def _number(text: str) -> str:
    value = float(text.replace(",", ""))
    return f"{value:g}" if value < 1e15 else text.replace(",", "")


def _unit(raw: str | None, attached: bool) -> str | None:
    """The normalized unit after a number: a known unit, or a Korean counter glued to it ('3번').
    Any other English word after a number is no unit ('200 students' states the figure 200)."""
    if not raw:
        return None
    low = raw.casefold()
    if low in _UNITS:
        return _UNITS[low]
    if is_korean(raw):
        known = next((u for u in _KO_UNITS if low.startswith(u)), None)
        return _UNITS[known] if known else raw[0] if attached else None
    return None


def _figures(text: str) -> list[Claim]:
    found = []
    for m in _FIGURE.finditer(text):
        currency = (m["cur"] or "").strip()
        if currency:
            unit, end = _UNITS[currency], m.end("num2") if m["num2"] else m.end("num")
        else:
            unit = _unit(m["attached"] or m["spaced"], bool(m["attached"]))
            if unit == "day" and _MONTH_BEFORE.search(text, 0, m.start()):
                unit = "day of month"  # '10월 31일' is a date; '31일' alone a duration
            end = m.end() if unit else m.end("num2") if m["num2"] else m.end("num")
        for num in filter(None, (m["num"], m["num2"])):
            value = _number(num)
            found.append(Claim(text[m.start():end].strip(), "figure", f"{value} {unit}" if unit else value,
                               m.start(), end))
    for m in _SPELLED.finditer(text):
        word = m["word"].casefold()
        unit = _unit(m["unit"], False)
        if unit not in _MEASURES or (is_korean(word) and unit != "times"):
            continue  # 'one step', 'one tea bag', '한 잔' (a cup) state no figure; 'two minutes' does
        value = f"{int(_NUMBER_WORDS[word]) + (0.5 if m['half'] else 0):g}"  # 'two-and-a-half hours': 2.5 hour
        found.append(Claim(m.group(), "figure", f"{value} {unit}", m.start(), m.end()))
    return found


def _all_claims(text: str, extra: tuple[str, ...]) -> list[Claim]:
    found = _figures(text)
    for pattern, kind, concept in (*_builtin_patterns(), *_brand_patterns(extra)):
        for m in pattern.finditer(text):
            found.append(Claim(m.group(), kind, concept, m.start(), m.end()))
    return found


def find_claims(text: str, extra: Iterable[str] = ()) -> list[Claim]:
    """Every claim `text` states, in order; where matches overlap, the widest one (a lexicon phrase
    before a figure of the same width: '100% satisfaction' is a guarantee, '1위' a ranking)."""
    ranked = sorted(_all_claims(text, tuple(extra)), key=lambda c: (c.start, -(c.end - c.start), c.kind == "figure"))
    kept: list[Claim] = []
    for claim in ranked:
        if kept and claim.start < kept[-1].end:
            continue
        kept.append(claim)
    return kept


def support_text(brief: Brief) -> str:
    """The brief's statements of fact, in every language it carries."""
    parts = [brief.product, brief.audience, *brief.key_messages, brief.call_to_action, *brief.brand.all_names]
    for language in {*brief.languages, *brief.translations}:
        parts += brief.brand.required_for(language)
    for given in brief.translations.values():
        parts += [given.product or "", given.audience or "", *(given.key_messages or []), given.call_to_action or ""]
    for day in (brief.start_date, brief.end_date):  # "until 12월 31일" / "December 31"
        parts += [f"{day.year}년 {day.month}월 {day.day}일", f"{day:%B} {day.day}, {day.year}"]
    return "\n".join(p for p in parts if p)


def brand_claims(brief: Brief) -> tuple[str, ...]:
    """The brand kit's own claim words, every language (a Korean word may turn up in an English post)."""
    return tuple(dict.fromkeys(w for words in brief.brand.claims.values() for w in words))


def brief_facts(brief: Brief) -> Facts:
    extra = brand_claims(brief)
    stated = _all_claims(support_text(brief), extra)  # overlaps kept: '100% natural' states 100% too
    figures = set()
    for claim in stated:
        if claim.kind == "figure":
            value, _, unit = claim.concept.partition(" ")
            figures.add((value, unit or None))
    concepts = frozenset(c.concept for c in stated if c.kind != "figure")
    return Facts(concepts=concepts, figures=frozenset(figures), extra=extra)


def unsupported_claims(text: str, support: Brief | Facts) -> list[Claim]:
    """The claims in `text` that the brief does not state (the brand kit's claim words included)."""
    facts = brief_facts(support) if isinstance(support, Brief) else support
    return [c for c in find_claims(text, facts.extra) if not facts.supports(c)]


def claims_problems(deck: CopyDeck, brief: Brief) -> list[str]:
    """Every unsupported claim in a deck, naming the claim and where it is
    (language/channel/variant/field). Empty when every claim is in the brief."""
    facts = brief_facts(brief)
    problems = []
    for language, channel, variant in iter_variants(deck):
        for field, text in variant_texts(variant).items():
            for claim in unsupported_claims(text, facts):
                problems.append(f"{language}/{channel}/{variant.variant}/{field}: unsupported {claim.describe()}")
    return problems
