"""A responder for the Ollama stand-in that answers Sparklio's copy chat turns like an instruct model.

It reads what the real model would read: the language and rules from the system message, the brief
from the user message, the variants' JSON schema from `format`. It writes plain copy from the
brief's own words, keeping the rules. Scripted faults make it break a rule the way qwen2.5 was seen
to, so tests can watch the re-ask and the fallback:

    Copywriter(break_first={"claim": 2})   # the first 2 draft replies state a claim the brief does not
    Copywriter(always_break={"language"})  # every draft reply is in the wrong language: a fallback

With `translate={"ko": {...facts...}}` it answers a request to write Korean from an English brief
with those facts, as an instruct model would translate them.

Rules: claim, language, limit, banned, cut (a line cut with '…'), repeat (preheader = subject).
A follow-up turn (one that carries an assistant message: a re-ask) is answered cleanly unless the
rule is in `always_break`. The final pass (a `format` with one property per channel) returns the
draft it was sent, with `final_claim` scripted to add a claim there.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

RULES = ("claim", "language", "limit", "banned", "cut", "repeat")
MAIN_FIELD = {"instagram": "caption", "x": "text", "linkedin": "text", "email": "body", "shorts": "script"}
INVENTED_CLAIM = {"en": "Clinically proven and the best in Korea.", "ko": "임상으로 입증된 최고의 선택이에요."}
WRONG_LANGUAGE = {"en": "지금 바로 만나보세요. 매일이 더 좋아져요.", "ko": "Try it today and feel the difference."}


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?。" else f"{text}."


class Copywriter:
    def __init__(self, break_first: dict[str, int] | None = None, always_break: set[str] | frozenset[str] = frozenset(),
                 final_claim: bool = False, translate: dict[str, dict] | None = None):
        unknown = (set(break_first or {}) | set(always_break)) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rules {sorted(unknown)}")
        self.to_break = Counter(break_first or {})
        self.always_break = set(always_break)
        self.final_claim = final_claim
        self.translate = translate or {}  # language -> the brief's facts in it, as a model would translate them
        self.broken: Counter[str] = Counter()  # rule -> replies that broke it
        self.turns: Counter[str] = Counter()  # draft / re-ask / final

    def __call__(self, body: dict) -> str:
        messages = body.get("messages") or []
        fmt = body.get("format")
        if not messages or not isinstance(fmt, dict):
            return "A plain reply from the test Ollama server."
        system = messages[0]["content"]
        language = "ko" if "Write in Korean" in system else "en"
        if "variants" not in fmt.get("properties", {}):
            self.turns["final"] += 1
            return json.dumps(self._final(messages[-1]["content"], language), ensure_ascii=False)
        reask = any(m["role"] == "assistant" for m in messages)
        self.turns["re-ask" if reask else "draft"] += 1
        brief = _brief(messages[1]["content"])
        channel = re.search(r"Rules for .*\((\w+)\): ", system)[1]
        focuses = re.findall(r"^- Variant \w leads with: (.*)$", messages[1]["content"], re.M)
        if "The brief is in " in system and language in self.translate:  # asked to write from another language
            brief = {**brief, **self.translate[language]}
            focuses = [brief["key_messages"][i % len(brief["key_messages"])] for i in range(len(focuses))]
        count = fmt["properties"]["variants"]["minItems"]
        variants = [self._variant(channel, brief, focuses[i % len(focuses)], language, system) for i in range(count)]
        scripted = next((r for r in RULES if not reask and self.to_break[r] > 0 and (r != "repeat" or channel == "email")),
                        None)  # one scripted break per reply, so each shows on its own
        for rule in RULES:
            if rule == "repeat" and channel != "email":
                continue  # only an email has a preheader to repeat its subject
            if rule in self.always_break or rule == scripted:
                if rule == scripted:
                    self.to_break[rule] -= 1
                self._break(rule, channel, variants[0], language, system)
                self.broken[rule] += 1
        return json.dumps({"variants": variants}, ensure_ascii=False)

    # a careful model: the brief's own words, within the rules

    def _variant(self, channel: str, brief: dict, focus: str, language: str, system: str) -> dict[str, Any]:
        messages = [focus, *(m for m in brief["key_messages"] if m != focus)]
        cta = _sentence(brief["call_to_action"])
        body = " ".join([*map(_sentence, messages), cta])
        required = _listed(system, "Every post, body and script includes: ")
        body = " ".join([body, *(_sentence(t) for t in required if t.casefold() not in body.casefold())])
        if channel == "x":
            cap = 140 if language == "ko" else 280
            text = " ".join([_sentence(focus), cta, *(_sentence(t) for t in required)])
            return {"text": text if len(text) <= cap else cta}
        if channel in ("instagram", "linkedin"):
            return {MAIN_FIELD[channel]: body}
        if channel == "email":
            subject = min([focus, brief["product"]], key=len).rstrip(".")
            other = next((m for m in messages if m != focus), brief["product"])
            return {"subject": subject, "preheader": f"{_sentence(other)} {cta}", "body": body}
        if channel == "shorts":
            script = body
            audience = f"{brief['product']}: {brief['audience']}."
            while (len(script) < 90) if language == "ko" else (len(script.split()) < 35):
                script = f"{script} {audience}"
            cap = 20 if language == "ko" else 40
            lines = [c.strip(" .") for m in messages for c in re.split(r"[,.]", m)]
            headlines = [h for h in dict.fromkeys([*lines, brief["product"], brief["call_to_action"]]) if 0 < len(h) <= cap]
            return {"script": script, "headlines": headlines[:4]}
        raise ValueError(f"unknown channel {channel}")

    # scripted faults

    def _break(self, rule: str, channel: str, variant: dict, language: str, system: str) -> None:
        field = MAIN_FIELD[channel]
        if rule == "claim":
            variant[field] = f"{variant[field]} {INVENTED_CLAIM[language]}"
        elif rule == "language":
            variant[field] = WRONG_LANGUAGE[language]
        elif rule == "limit":  # just past the limit the system message states
            rules = system[system.index("Rules for"):]
            stated = re.search(rf"\b{field}\b.*?\d+-(\d+) characters", rules) or re.search(r"at most (\d+)", rules)
            text = variant[field]
            while len(text) <= int(stated[1]):
                text = f"{text} {variant[field]}"
            variant[field] = text
        elif rule == "banned":
            banned = _listed(system, "Never use these words, in any form: ") or ["miracle"]
            variant[field] = f"{banned[0]} {variant[field]}"
        elif rule == "cut":
            variant[field] = variant[field][: max(len(variant[field]) // 2, 1)].rstrip() + "…"
        elif rule == "repeat":
            variant["preheader"] = variant["subject"]

    def _final(self, request: str, language: str) -> dict:
        draft = json.JSONDecoder().raw_decode(request, request.index("The draft copy:\n") + len("The draft copy:\n"))[0]
        if self.final_claim:
            for channel, block in draft.items():
                field = MAIN_FIELD[channel]
                block["variants"][0][field] = f"{block['variants'][0][field]} {INVENTED_CLAIM[language]}"
                self.broken["final_claim"] += 1
        return draft


def _brief(user_message: str) -> dict:
    start = user_message.index("The brief:\n") + len("The brief:\n")
    return json.JSONDecoder().raw_decode(user_message, start)[0]


def _listed(system: str, label: str) -> list[str]:
    found = re.search(re.escape(label) + r"(.*)$", system, re.M)
    return [w.strip() for w in found[1].split(",") if w.strip()] if found else []
