"""SyntaxGym test suites (Hu et al. 2020): reading a suite file, and its agreement items -> probe items."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

from probe.core.errors import ProbeError
from probe.data.lexicon import PL, SG
from probe.data.importers.common import (
    COPULAS, condition_or_blank, drop_final_punctuation, gc_paused, input_files, is_s_form, tokenize
)
from probe.data.records import item_row
from probe.data.importers.registry import Importer, register_importer


_MATCH = re.compile(r"^(mis)?match(.*)$")


def _line_of(text: str, item_number) -> str:
    """The line where item ``item_number`` starts in the JSON text (for error messages), or '?'."""
    m = re.search(r'"item_number"\s*:\s*' + re.escape(json.dumps(item_number)) + r"\b", text)
    return str(text.count("\n", 0, m.start()) + 1) if m else "?"


def load_suite(path: str | os.PathLike) -> dict:
    """Read and check a SyntaxGym suite JSON file; structural problems are one-line ProbeErrors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeError(f"cannot read SyntaxGym suite {path}: {exc}") from exc
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProbeError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(suite, dict):
        raise ProbeError(f"{path} line 1: a SyntaxGym suite is a JSON object with meta, region_meta, "
                         "predictions, items")
    for key, kind in (("meta", dict), ("region_meta", dict), ("items", list)):
        if not isinstance(suite.get(key), kind):
            raise ProbeError(f"{path} line 1: field {key!r} is missing or not a JSON {kind.__name__}")
    for k, item in enumerate(suite["items"]):
        if not isinstance(item, dict):
            raise ProbeError(f"{path} item {k + 1}: each item must be a JSON object")
        # the line number costs a search of the whole file: only an error pays for it
        def where(item=item, k=k) -> str:
            return f"{path} line {_line_of(text, item.get('item_number'))} (item {item.get('item_number', k + 1)})"

        if "item_number" not in item:
            raise ProbeError(f"{path} item {k + 1}: field 'item_number' is missing")
        conds = item.get("conditions")
        if not isinstance(conds, list) or not conds:
            raise ProbeError(f"{where()}: field 'conditions' is missing or empty")
        for c in conds:
            if not isinstance(c, dict) or not isinstance(c.get("condition_name"), str):
                raise ProbeError(f"{where()}: field 'condition_name' is missing")
            regions = c.get("regions")
            if not isinstance(regions, list) or not regions:
                raise ProbeError(f"{where()} condition {c['condition_name']!r}: field 'regions' is missing or empty")
            for r in regions:
                if not isinstance(r, dict) or not isinstance(r.get("region_number"), int) \
                        or isinstance(r.get("region_number"), bool):
                    raise ProbeError(f"{where()} condition {c['condition_name']!r}: field 'region_number' "
                                     "is missing or not an integer")
                if not isinstance(r.get("content"), str):
                    raise ProbeError(f"{where()} condition {c['condition_name']!r} region {r['region_number']}: "
                                     "field 'content' is missing or not a string")
    return suite


def region_tokens(condition: dict) -> list[tuple[int, list[str]]]:
    """(region number, tokens) in region order; sentence-final punctuation dropped from the last region."""
    regions = sorted(condition["regions"], key=lambda r: r["region_number"])
    out = [(r["region_number"], tokenize(r["content"], drop_final=False)) for r in regions]
    for k in range(len(out) - 1, -1, -1):  # the last non-empty region ends the sentence
        if out[k][1]:
            out[k] = (out[k][0], drop_final_punctuation(out[k][1]))
            break
    return out


def _number_partner(condition_name: str) -> str:
    """The condition with the other head number: match_sing <-> match_plural."""
    if "sing" in condition_name:
        return condition_name.replace("sing", "plural")
    return condition_name.replace("plural", "sing").replace("plur", "sing")


def _suite_nouns(region_meta: Mapping, regions: list, critical: int, partner: list | None, head_number: str,
                 noun_numbers: Mapping) -> dict:
    """Head, attractor and nearest-noun fields of one SyntaxGym pair; the unknown defaults where not found.

    Regions are told by ``region_meta`` names: the head is the last word of the first region named
    ``np*`` (number_orc/number_prep: 'np_sing'), the attractors the last words of regions named
    ``*_np`` ('embed_np', 'prep_np') before the critical region. A noun's number comes from the same
    region in the condition with the other head number (``partner``: 'senators' in match_sing vs
    'senator' in match_plural; the -s form is the plural), else from ``noun_numbers``; when one
    attractor's number cannot be told, the attractor fields stay unknown rather than guessed.
    """
    names = {int(k): str(v) for k, v in region_meta.items() if str(k).isdigit()}
    other = {num: ts for num, ts in partner} if partner else {}
    starts, pos = [], 0
    for _, ts in regions:
        starts.append(pos)
        pos += len(ts)
    heads = [k for k, (num, ts) in enumerate(regions[:critical]) if ts and names.get(num, "").startswith("np")]
    attrs = [k for k, (num, ts) in enumerate(regions[:critical])
             if ts and names.get(num, "").endswith("_np") and heads and k > heads[0]]
    if not heads or not head_number:
        return {"condition": "", "n_attractors": -1}
    h = starts[heads[0]] + len(regions[heads[0]][1]) - 1
    v = starts[critical]
    fields = {"head": regions[heads[0]][1][-1], "head_index": h, "distance": v - h - 1,
              "condition": condition_or_blank(head_number, []), "n_attractors": 0, "nearest_noun": regions[heads[0]][1][-1],
              "nearest_number": head_number}
    numbers = []
    for k in attrs:
        word, num = regions[k][1][-1], regions[k][0]
        there = other.get(num, [])
        s = is_s_form(word, there[-1]) if there and there[-1] != word else None
        numbers.append(PL if s else SG if s is False else noun_numbers.get(word, ""))
    if "" in numbers:
        return {**fields, "condition": "", "n_attractors": -1, "nearest_noun": "", "nearest_number": ""}
    idx = [starts[k] + len(regions[k][1]) - 1 for k in attrs]
    fields.update(attractors=[regions[k][1][-1] for k in attrs], attractor_numbers=numbers, attractor_indices=idx,
                  condition=condition_or_blank(head_number, numbers), n_attractors=len(attrs))
    if idx and idx[-1] > h:
        fields.update(nearest_noun=regions[attrs[-1]][1][-1], nearest_number=numbers[-1])
    return fields


@gc_paused()
def read_syntaxgym(paths: Iterable[str | os.PathLike], *, noun_numbers: Mapping | None = None) -> list[dict]:
    """Number-agreement SyntaxGym suites (conditions ``match_X``/``mismatch_X``) -> item rows.

    Each item gives one pair per X: good = match_X, bad = mismatch_X. The critical region is the one
    region whose content differs; when its content is one token in both conditions the pair supports
    prefix scoring (prefix = the tokens of the regions before it). ``head_number`` comes from X
    ('sing'/'plural'); head, attractors and nearest noun from the regions (see ``_suite_nouns``):
    'The author that the senators hurt is good' (number_orc, match_sing) -> head author, attractor
    senators (pl), condition SP. ``noun_numbers``: extra noun -> 'sg'|'pl' look-ups (probe's lexicon)
    for nouns whose number the other condition does not show.
    """
    noun_numbers = noun_numbers or {}
    rows: list[dict] = []
    for path in input_files(paths, ("*.json",), "SyntaxGym suite .json"):
        suite = load_suite(path)
        name = str(suite["meta"].get("name") or path.stem)
        n_before = len(rows)
        for item in suite["items"]:
            conds = {c["condition_name"]: c for c in item["conditions"]}
            for good_name in conds:
                m = _MATCH.match(good_name)
                bad_name = f"mis{good_name}"
                if not m or m.group(1) or bad_name not in conds:
                    continue
                good_r, bad_r = region_tokens(conds[good_name]), region_tokens(conds[bad_name])
                good = [t for _, ts in good_r for t in ts]
                bad = [t for _, ts in bad_r for t in ts]
                differing = [k for k, ((gn, g), (bn, b)) in enumerate(zip(good_r, bad_r)) if g != b or gn != bn]
                if good == bad:
                    line = _line_of(path.read_text(encoding="utf-8"), item["item_number"])
                    raise ProbeError(f"{path} line {line} (item {item['item_number']}): field 'content': conditions "
                                     f"{good_name!r} and {bad_name!r} have the same words")
                prefix_ok = (len(good_r) == len(bad_r) and len(differing) == 1
                             and len(good_r[differing[0]][1]) == 1 and len(bad_r[differing[0]][1]) == 1)
                k = differing[0] if prefix_ok else -1
                v = sum(len(ts) for _, ts in good_r[:k]) if prefix_ok else -1
                suffix = m.group(2).lower()
                head_number = SG if "sing" in suffix else PL if "plur" in suffix else ""
                partner = conds.get(_number_partner(good_name))
                nouns = _suite_nouns(suite["region_meta"], good_r, differing[0],
                                     region_tokens(partner) if partner else None, head_number, noun_numbers)
                rows.append(item_row(
                    construction=name, head_number=head_number, **nouns,
                    prefix=" ".join(good[:v]) if prefix_ok else "",
                    verb_good=good[v] if prefix_ok else "", verb_bad=bad[v] if prefix_ok else "",
                    verb_index=v, verb_type="copula" if prefix_ok and good[v] in COPULAS else "other",
                    sentence_good=" ".join(good), sentence_bad=" ".join(bad), source="syntaxgym",
                    source_id=f"{name}/{item['item_number']}/{good_name}"))
        if len(rows) == n_before:
            raise ProbeError(f"{path}: no match_*/mismatch_* condition pairs; probe imports number-agreement "
                             "suites (number_prep, number_src, number_orc). Any suite's predictions can still be "
                             "checked with probe.scoring.suites.evaluate_predictions")
    return rows


register_importer(Importer(
    name='syntaxgym', label='SyntaxGym (as pairs)',
    read=lambda paths, lex: read_syntaxgym(paths, noun_numbers=lex.noun_number),
    intro=("SyntaxGym number-agreement suites: match_X (good) vs mismatch_X (bad) at the critical region; "
                 "source_id = suite/item/condition.")))
