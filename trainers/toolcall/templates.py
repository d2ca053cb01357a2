"""Requests and answers made from function docs by templates.

A request is built from the function's summary turned into an imperative ("Returns the
norm ..." → "return the norm ...") or, in a quarter of the requests for functions named by
two or more words, from those words ("get stock price"), wrapped in one of several sentence
frames, plus one phrase per chosen argument ("a start of 2", "2 as the start", "start=2",
"with the strict mode enabled" ...). The answer is the call in BFCL's python syntax with exactly the
arguments the request mentions: every required parameter, and each optional one with
probability :data:`P_OPTIONAL` (at most :data:`MAX_ARGS` arguments).

Example kinds (:func:`make_example`): ``simple`` (one function offered, one call),
``multiple`` (2–4 functions offered, one call to the right one), ``parallel`` (one function,
2–3 calls), ``parallel_multiple`` (2–3 functions, one call to each), ``irrelevance`` (the
request is about some other function or is small talk: answer ``[]``).

The frames and phrases are hand-written (no library writes requests from docstrings); none
is taken from BFCL. Not handled: requests that need arithmetic or unit conversion to get
the argument value, multi-turn dialogues, missing-parameter abstention.
"""

from __future__ import annotations

import random
import re
from typing import Any

from specboard.trainers.toolcall.schema import FunctionDoc
from specboard.trainers.toolcall.values import WORDS, in_text, literal, sample

P_OPTIONAL = 0.3
P_NAMED = 0.25
"""How often a request names the action by the function's name words ("get stock price")
instead of its summary (recipe 2; version 1 always used the summary, and its specialist
learnt to call only when the request echoed it)."""
MAX_ARGS = 5

_FRAMES = (
    "{Action} with {args}.", "{Action}, using {args}.", "Can you {action} with {args}?",
    "I need to {action}: {args}.", "Please {action} given {args}.", "{Action} for {args}.",
    "Could you {action}? Use {args}.", "I want to {action} with {args}.",
    "Help me {action}, with {args}.", "{Action}. The inputs are {args}.",
    "Using {short}, {action} with {args}.", "Call {name} with {args}.",
)
_FRAMES_NOARG = ("{Action}.", "Can you {action}?", "Please {action}.", "I want to {action}.")


def words(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ")
    return re.sub(r"\s+", " ", s).strip().lower()


def action(doc: FunctionDoc) -> str:
    """The summary as a lower-case imperative clause without the final period."""
    text = doc["description"].split(". ")[0].rstrip(".:; ")
    first, _, rest = text.partition(" ")
    low = first.lower()
    if low.endswith("ies") and len(low) > 4:
        low = low[:-3] + "y"
    elif re.search(r"(ss|sh|ch|x)es$", low):
        low = low[:-2]
    elif low.endswith("s") and not low.endswith("ss") and len(low) > 3:
        low = low[:-1]
    if first[:1].isupper() and not first[1:2].isupper():
        first = low
    return f"{first} {rest}".strip()


def mention(pname: str, spec: dict[str, Any], value: Any, r: random.Random) -> str:
    """A phrase naming one argument and its value."""
    noun = words(pname)
    if isinstance(value, bool):
        on = r.choice(("enabled", "turned on", "set to true", "on"))
        off = r.choice(("disabled", "turned off", "set to false", "off"))
        if r.random() < 0.2:
            return f"{pname}={value}"
        return f"{noun} {on if value else off}"
    v = in_text(value, r)
    style = r.random()
    if style < 0.15:
        return f"{pname}={literal(value)}"
    if style < 0.4:
        return f"{noun} {v}"
    if style < 0.6:
        return f"{noun} set to {v}"
    if style < 0.8:
        return f"{v} as the {noun}"
    desc = spec.get("description", "").rstrip(".")
    if 2 <= len(desc.split()) <= 8 and desc[:1].isupper():
        return f"{desc[0].lower() + desc[1:]} being {v}"
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun} of {v}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def choose_args(doc: FunctionDoc, r: random.Random) -> dict[str, Any]:
    """Values for every required parameter and some optional ones (in doc order; at least one)."""
    props = doc["parameters"]["properties"]
    required = set(doc["parameters"]["required"])
    args: dict[str, Any] = {}
    for pname, spec in props.items():
        if pname in required or (len(args) < MAX_ARGS and r.random() < P_OPTIONAL):
            args[pname] = sample(pname, spec, r)
    if not args and props:  # an all-optional function is still called with one argument
        pname = r.choice(list(props))
        args[pname] = sample(pname, props[pname], r)
    return args


def call_text(name: str, args: dict[str, Any]) -> str:
    return f"{name}(" + ", ".join(f"{k}={literal(v)}" for k, v in args.items()) + ")"


def answer(calls: list[tuple[str, dict[str, Any]]]) -> str:
    """BFCL's python call syntax: ``[f(a=1), g(b='x')]``; ``[]`` for no call."""
    return "[" + ", ".join(call_text(n, a) for n, a in calls) + "]"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def request(doc: FunctionDoc, args: dict[str, Any], r: random.Random) -> str:
    """One request whose only sensible reading is ``doc(**args)``."""
    props = doc["parameters"]["properties"]
    act = action(doc)
    named = words(doc["name"].rsplit(".", 1)[-1])
    if len(named.split()) >= 2 and r.random() < P_NAMED:  # not every request echoes the summary
        act = named
    if not args:
        return r.choice(_FRAMES_NOARG).format(Action=_cap(act), action=act)
    parts = [mention(k, props[k], v, r) for k, v in args.items()]
    if r.random() < 0.3:
        r.shuffle(parts)
    frame = r.choice(_FRAMES)
    short = doc["name"].rsplit(".", 1)[-1]
    return frame.format(Action=_cap(act), action=act, args=_join(parts), short=short, name=doc["name"])


def parallel_request(doc: FunctionDoc, arg_sets: list[dict[str, Any]], r: random.Random) -> str:
    """A request for ``doc`` once per argument set. When the sets differ in one value only,
    half the time the shared arguments are said once and the varying values listed ("... with
    a base of 2 for the exponents 3, 5 and 8")."""
    props = doc["parameters"]["properties"]
    act = action(doc)
    varying = [k for k in arg_sets[0] if any(a.get(k) != arg_sets[0][k] for a in arg_sets[1:])]
    if len(varying) == 1 and not isinstance(arg_sets[0][varying[0]], bool) and r.random() < 0.5:
        k = varying[0]
        shared = [mention(p, props[p], v, r) for p, v in arg_sets[0].items() if p != k]
        values = _join([in_text(a[k], r) for a in arg_sets])
        noun = words(k)
        frame = r.choice(("{Action}{shared} for each {noun} in {values}.",
                          "{Action}{shared}, for the {noun} {values}.",
                          "For the {noun} {values}: {action}{shared}.",
                          "Can you {action}{shared} for {values} (the {noun})?"))
        return frame.format(Action=_cap(act), action=act, noun=noun, values=values,
                            shared=(" with " + _join(shared)) if shared else "")
    groups = [_join([mention(k, props[k], v, r) for k, v in a.items()]) for a in arg_sets]
    frame = r.choice(("{Action} for {g0}, and also for {rest}.", "{Action} with {g0}; then do the same with {rest}.",
                      "I need two results: {action} with {g0}, and {action} with {rest}.",
                      "Please {action} for each of these: {g0}; {rest}."))
    return frame.format(Action=_cap(act), action=act, g0=groups[0], rest="; ".join(groups[1:]))


def vary(doc: FunctionDoc, base: dict[str, Any], r: random.Random) -> dict[str, Any]:
    """A second argument set that differs from ``base`` in one or two values."""
    props = doc["parameters"]["properties"]
    out = dict(base)
    keys = [k for k in base if not isinstance(base[k], bool)] or list(base)
    for k in r.sample(keys, min(len(keys), r.choice((1, 1, 2)))):
        for _ in range(5):
            v = sample(k, props[k], r)
            if v != base[k]:
                out[k] = v
                break
    return out


SMALL_TALK = (
    "What is the capital of {country}?", "Tell me a joke about {word}.", "How are you today?",
    "Who painted the Mona Lisa?", "Write a short poem about {city}.", "What time zone is {city} in?",
    "Translate 'good morning' into {lang}.", "What is the tallest mountain in {country}?",
    "Recommend a good book about {word}.", "Why is the sky blue?", "How do I boil an egg?",
    "What's the weather usually like in {city} in spring?", "Explain what a {word} is in one sentence.",
    "Summarize the history of {country} briefly.", "Thanks, that's all for now.",
    "Which language is spoken in {country}?", "Give me three tips for learning {lang}.",
)


def small_talk(r: random.Random) -> str:
    from specboard.trainers.toolcall.values import CITIES, COUNTRIES, LANGS

    return r.choice(SMALL_TALK).format(country=r.choice(COUNTRIES), city=r.choice(CITIES),
                                       lang=_cap(r.choice(LANGS)), word=r.choice(WORDS))
