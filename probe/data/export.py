"""Export an item folder as an lm-evaluation-harness (0.4.x) task folder, so the field's harness scores probe's items.

``probe export lm-eval --data DIR --out TASKS`` writes

``TASKS/<name>_<class>_<n>.yaml``
    one ``multiple_choice`` task per item class (``none``, ``matched``, ``conflict``,
    ``mismatched_no_conflict``, ``unknown``: ``probe.data.records.item_classes``) x attractor count
    (``n_attractors``; the suffix is dropped where the count is unknown), choice 0 the good member;
    Items whose attractors mix numbers (``probe.data.records.mixed_patterns``: 'SSP', 'SPS') form class
    ``mixed`` instead, as ``probe evaluate`` pools them with no class either;
``TASKS/<name>_<class>.yaml`` and ``TASKS/<name>.yaml``
    groups: each class over its counts, and every task; their ``acc`` is the share of items answered
    correctly (``weight_by_size: true``), the number ``probe evaluate`` reports for the same items;
``TASKS/_<name>_template_yaml``, ``TASKS/data/<task>.jsonl``, ``TASKS/config.json``, ``TASKS/README.md``
    the settings the tasks share, their items (every item column plus ``match`` and ``n_mismatched``),
    the export's options and counts, and how to run it.

Run it with ``lm_eval --model hf --model_args pretrained=PATH,add_bos_token=True --tasks <name>
--include_path TASKS``. The data files are read with ``dataset_path: json`` from absolute paths, so no hub
is needed; moving the folder needs a new export.

Conventions, chosen so that lm-eval computes exactly what ``probe evaluate --hf-model`` does
(``probe.scoring.hf``):

method ``prefix``
    context = the prefix, choices = the two verbs, each after one space (``target_delimiter: ""``, the
    space is in the choice; with an empty prefix the verb has no space, as it opens the text). lm-eval
    tokenizes ``prefix + " " + verb`` whole and scores the tokens after the prefix's own, summed: as probe
    does. lm-eval puts a start token before a non-empty context only when the tokenizer adds one by
    itself (Llama's does, GPT-2's does not), while probe always starts with the tokenizer's
    ``bos_token`` (else its ``eos_token``): for GPT-2-style tokenizers pass ``add_bos_token=True`` in
    ``--model_args`` (without it the prefix's first word has no start token before it and every score
    differs). A tokenizer with an ``eos_token`` but no ``bos_token`` cannot be matched this way.
method ``sentence``
    context empty, choices = the two whole sentences with no leading space (``target_delimiter: ""``):
    lm-eval then conditions on the tokenizer's ``bos_token`` (else ``eos_token``), probe's start token,
    and scores every token of the sentence. lm-eval's own ``blimp`` tasks keep the default delimiter
    ``" "``, so they score ``" " + sentence`` (GPT-2: a first token ``'Ġthe'`` instead of ``'the'``).
    lm-eval scores no end-of-text token after the sentence: compare with ``probe evaluate --method
    sentence --no-final-eos``.
text
    words joined by single spaces (the prefix, verbs and sentences are written so), as probe scores them.
ties
    items whose two verbs (prefix) or sentences (sentence) are missing or equal are left out of the export
    (imported pairs that differ in more than one word have no verbs: export them with ``--method
    sentence``), as probe excludes them (reason ``tie``). lm-eval's ``acc`` takes the first of two equal
    log-likelihoods, so it would count a scored tie as correct where probe excludes it; with a trained model
    scored ties do not occur in practice.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, save_config
from probe.data.items import load_data
from probe.data.records import ITEM_CLASSES, ITEM_COLUMNS, mixed_patterns

MIXED = "mixed"   # the task class of items whose attractors mix numbers
TASK_CLASSES = (*ITEM_CLASSES, MIXED)

EXPORT_METHODS = ("prefix", "sentence")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# the columns lm-eval's templates read; words in them are re-joined by single spaces
_TEXT_COLUMNS = ("prefix", "verb_good", "verb_bad", "sentence_good", "sentence_bad")


@dataclass(frozen=True)
class LmEvalExportConfig:
    """Options of ``probe export lm-eval``."""

    data: str = ""                           # item folder (probe build, import, extract) or items .jsonl file
    method: str = "prefix"                   # prefix: the two verbs after the prefix | sentence: the two sentences
    name: str = "probe_agreement"            # the group's name; tasks are NAME_<class>_<attractors>
    split: str | None = None                 # only items of this split (None: all items)
    constructions: tuple[str, ...] = ()      # only these constructions (empty: all)


def task_settings(method: str) -> dict:
    """The lm-eval task settings shared by every task of a ``method`` export (see the module docstring)."""
    if method == "prefix":
        text = "{{prefix}}"
        choice = "{{[' ' ~ verb_good, ' ' ~ verb_bad] if prefix else [verb_good, verb_bad]}}"
        query = "{{prefix}} {{verb_good}}"
    elif method == "sentence":
        text, choice, query = "", "{{[sentence_good, sentence_bad]}}", "{{sentence_good}} {{sentence_bad}}"
    else:
        raise ProbeError(f"unknown --method {method!r}; choose from {', '.join(EXPORT_METHODS)}")
    return {
        "dataset_path": "json",
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": text,
        "doc_to_target": 0,
        "doc_to_choice": choice,
        "target_delimiter": "",
        "num_fewshot": 0,
        "should_decontaminate": True,
        "doc_to_decontamination_query": query,
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0, "method": method},
    }


def task_names(items: pd.DataFrame, name: str) -> pd.Series:
    """Per prepared item (``prepare_items``): its task, NAME_<class>_<n_attractors> (no count where unknown; class
    ``mixed`` for items whose attractors mix numbers)."""
    count = items["n_attractors"].astype(int)
    suffix = ("_" + count.astype(str)).where(count >= 0, "")
    return name + "_" + task_classes(items) + suffix


def task_classes(items: pd.DataFrame) -> pd.Series:
    """Per item: its class (``match``), or ``mixed`` where its attractors mix numbers."""
    return items["match"].astype(str).where(~mixed_patterns(items), MIXED)


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def export_lm_eval(cfg: LmEvalExportConfig, out: str | os.PathLike, *, overwrite: bool = False) -> str:
    """Write the lm-eval task folder ``out`` for ``cfg.data`` (module docstring); return a one-line summary.

    Bad options, unreadable data or an empty selection raise ProbeError before anything is written.
    """
    if cfg.method not in EXPORT_METHODS:
        raise ProbeError(f"unknown --method {cfg.method!r}; choose from {', '.join(EXPORT_METHODS)}")
    if not _NAME.match(cfg.name):
        raise ProbeError(f"--name {cfg.name!r} is not a task name; use letters, digits and '_', starting "
                         "with a letter")
    if not cfg.data:
        raise ProbeError("no item data; give --data DIR (a folder written by `probe build`)")
    items = load_data([cfg.data], split=cfg.split, constructions=cfg.constructions)
    for col in _TEXT_COLUMNS:
        items[col] = items[col].astype(str).str.split().str.join(" ")
    # what probe excludes as a tie before scoring: pairs without two different verbs (imported items that
    # support only whole sentences) or two different sentences
    good, bad = ("verb_good", "verb_bad") if cfg.method == "prefix" else ("sentence_good", "sentence_bad")
    keep = (items[good] != "") & (items[bad] != "") & (items[good] != items[bad])
    n_left_out = int((~keep).sum())
    if not keep.any():
        raise ProbeError(f"none of the {len(items)} items has two different {good.split('_')[0]}s to compare; "
                         + ("export them with --method sentence" if cfg.method == "prefix" else "check the data"))
    items = items[keep].reset_index(drop=True)
    items["task"] = task_names(items, cfg.name)
    columns = [c for c in (*ITEM_COLUMNS, "match", "n_mismatched") if c in items.columns]
    order = {c: i for i, c in enumerate(TASK_CLASSES)}
    keys = items.assign(task_class=task_classes(items)).groupby("task")[["task_class", "n_attractors"]].first()
    tasks = sorted(keys.index, key=lambda t: (order[keys.at[t, "task_class"]], int(keys.at[t, "n_attractors"])))
    final = Path(out).resolve()
    template = f"_{cfg.name}_template_yaml"
    counts = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "data").mkdir()
        (tmp / template).write_text(_yaml(task_settings(cfg.method)), encoding="utf-8")
        for task in tasks:
            rows = items.loc[items["task"] == task, columns]
            counts[task] = len(rows)
            (tmp / "data" / f"{task}.jsonl").write_text(
                rows.to_json(orient="records", lines=True, force_ascii=False), encoding="utf-8")
            spec = {"include": template, "task": task,
                    "dataset_kwargs": {"data_files": {"test": str(final / "data" / f"{task}.jsonl")}}}
            (tmp / f"{task}.yaml").write_text(_yaml(spec), encoding="utf-8")
        groups = {f"{cfg.name}_{c}": [t for t in tasks if t.startswith(f"{cfg.name}_{c}_") or t == f"{cfg.name}_{c}"]
                  for c in TASK_CLASSES}
        groups = {g: ts for g, ts in groups.items() if ts and g not in counts}
        groups[cfg.name] = tasks
        for group, members in groups.items():
            spec = {"group": group, "task": members,
                    "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}],
                    "metadata": {"version": 1.0}}
            (tmp / f"{group}.yaml").write_text(_yaml(spec), encoding="utf-8")
        save_config(cfg, tmp, extra={"format": "lm-evaluation-harness 0.4", "n_items": len(items),
                                     "n_left_out": n_left_out, "tasks": counts, "groups": groups})
        (tmp / "README.md").write_text(_readme(cfg, final, counts), encoding="utf-8")
    left = f" ({n_left_out} left out: no two different {good.split('_')[0]}s)" if n_left_out else ""
    return (f"wrote {len(items)} items in {len(tasks)} lm-eval tasks (group {cfg.name}, method {cfg.method}) "
            f"to {out}{left}; run: lm_eval --model hf --model_args pretrained=PATH,add_bos_token=True "
            f"--tasks {cfg.name} --include_path {final}")


def _readme(cfg: LmEvalExportConfig, folder: Path, counts: dict[str, int]) -> str:
    """The task folder's README: what it holds and how to run it."""
    lines = [f"# lm-evaluation-harness tasks: {cfg.name}", "",
             f"Subject-verb agreement minimal pairs from `{cfg.data}`, exported by `probe export lm-eval` "
             f"(method `{cfg.method}`). Run:", "",
             f"    lm_eval --model hf --model_args pretrained=PATH,add_bos_token=True --tasks {cfg.name} "
             f"--include_path {folder}", "",
             "`add_bos_token=True` puts the tokenizer's start token before the prefix, as `probe evaluate "
             "--hf-model` does (tokenizers that add it by themselves need no flag). The conventions are those "
             "of `probe.data.export` (module docstring). The group's `acc` is the share of all its items "
             "answered correctly.", "", "| task | items |", "|---|---:|"]
    lines += [f"| {t} | {n} |" for t, n in counts.items()]
    return "\n".join(lines) + "\n"

