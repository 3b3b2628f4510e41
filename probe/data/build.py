"""Build the agreement benchmark: lexicon x constructions x seed -> balanced, de-duplicated items."""
from __future__ import annotations

import functools
import hashlib
import itertools
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, check_output_dir
from probe.core.config import CheckedConfig, NonNegativeFloat, PositiveInt, Range, config_to_dict
from probe.data.constructions import CONSTRUCTIONS, Construction, Sampler
from probe import __version__
from probe.data.lexicon import PL, SG, Lexicon, lexicon_digest, load_lexicon
from probe.data.records import ITEM_COLUMNS, condition_code, item_id
from probe.data.items import PROBE_LICENSE, arrow_table, dataset_card, fill_item_folder, jsonl_lines, load_items

DEFAULT_OUT = "data/agreement"
DEFAULT_PER_CONDITION = 100
MAX_ATTRACTORS = 4
AttractorCount = Annotated[int, Range(1, MAX_ATTRACTORS, text=f"an integer from 1 to {MAX_ATTRACTORS}")]


@dataclass(frozen=True)
class BuildConfig(CheckedConfig):
    """Options of ``probe build``."""

    seed: int = 0                              # same seed -> byte-identical items.jsonl
    per_condition: PositiveInt | None = None   # items per construction x condition cell; None -> size, or
                                               #   DEFAULT_PER_CONDITION
    size: PositiveInt | None = None            # items in total, spread evenly over the cells
    constructions: tuple[str, ...] = tuple(CONSTRUCTIONS)  # which constructions to build
    max_attractors: AttractorCount = MAX_ATTRACTORS   # most stacked PP attractors
    nonce: bool = False                        # 'colorless green' items: content words sampled without semantic
                                               #   constraints
    splits: tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat] = (0.0, 0.0, 1.0)   # train/valid/test
                                               #   shares, assigned by item id
    lexicon: str | None = None                 # lexicon TSV; None -> the shipped one
    exclude_items: str | None = None           # an item folder (or items.jsonl) whose sentences this build must not
                                               #   repeat: held-out items disjoint from a benchmark


@dataclass(frozen=True)
class Cell:
    """One balanced unit of the benchmark: construction x number configuration x variant."""

    construction: str
    numbers: tuple[str, ...]   # head first, then attractors in sentence order
    variant: int               # control: the head-verb distance; else 0

    @property
    def condition(self) -> str:
        return condition_code(self.numbers[0], self.numbers[1:])

    @property
    def key(self) -> str:
        return f"{self.construction}/{self.condition}" + (f"/d{self.variant}" if self.variant else "")


def check_config(cfg: BuildConfig) -> None:
    """Reject impossible options with one-line errors before anything is written."""
    unknown = [c for c in cfg.constructions if c not in CONSTRUCTIONS]
    if unknown:
        raise ProbeError(f"unknown construction {unknown[0]!r}; choose from {', '.join(CONSTRUCTIONS)}")
    if not cfg.constructions:
        raise ProbeError("no constructions selected; name at least one in constructions")
    if cfg.per_condition is not None and cfg.size is not None:
        raise ProbeError("give either per_condition or size, not both")
    if cfg.exclude_items is not None and not Path(cfg.exclude_items).exists():
        raise ProbeError(f"exclude_items {cfg.exclude_items} does not exist; give an item folder or items.jsonl")
    if len(cfg.splits) != 3 or abs(sum(cfg.splits) - 1) > 1e-6:
        raise ProbeError(f"splits {' '.join(map(str, cfg.splits))} must be three non-negative shares summing to 1")


def cells_for(cfg: BuildConfig) -> list[Cell]:
    """Every (construction, number configuration, variant) cell the config asks for, in a fixed order."""
    cells: list[Cell] = []
    for name in cfg.constructions:
        con: Construction = CONSTRUCTIONS[name]
        counts = range(1, cfg.max_attractors + 1) if con.attractors is None else (con.attractors,)
        variants = con.variants
        if con.distance_variants:
            # keep only the distances of the pp/src/orc items this build can contain
            allowed = {3, 4} | {3 * k for k in range(1, cfg.max_attractors + 1)}
            variants = tuple(d for d in variants if d in allowed)
        for k in counts:
            for numbers in itertools.product((SG, PL), repeat=k + 1):
                for variant in variants:
                    cells.append(Cell(name, numbers, variant))
    return cells


def cell_sizes(cfg: BuildConfig, n_cells: int) -> list[int]:
    """Items per cell: --per-condition K each, or --size N spread evenly (the first N mod cells get one more)."""
    if cfg.size is not None:
        base, extra = divmod(cfg.size, n_cells)
        return [base + (i < extra) for i in range(n_cells)]
    k = cfg.per_condition if cfg.per_condition is not None else DEFAULT_PER_CONDITION
    return [k] * n_cells


def _split_of(iid: str, cuts: tuple[float, float]) -> str:
    """Deterministic split from the id's hash: stable when the build grows or shrinks."""
    u = int.from_bytes(hashlib.blake2b(iid.encode(), digest_size=8).digest(), "big") / 2**64
    return "train" if u < cuts[0] else "valid" if u < cuts[1] else "test"


@functools.lru_cache(maxsize=2)
def excluded_sentences(path: str | None) -> frozenset[str]:
    """The good and bad sentences of an item folder (empty for None): what ``exclude_items`` keeps out."""
    if path is None:
        return frozenset()

    ds = load_items(path)
    return frozenset(ds["sentence_good"]) | frozenset(ds["sentence_bad"])


def build_cell(lex: Lexicon, cfg: BuildConfig, cell: Cell, n: int) -> list[tuple]:
    """``n`` distinct items for one cell as tuples in ITEM_COLUMNS order; verb types take turns.

    Tuples, not dicts: this is the hot loop of a million-item build.
    """
    con = CONSTRUCTIONS[cell.construction]
    # A string seed is hashed with SHA-512 by `random`, so it is stable across runs and platforms,
    # and each cell gets its own stream: adding a construction never changes another's items.
    rng = random.Random(f"probe-build:{cfg.seed}:{cell.key}:{int(cfg.nonce)}")
    sampler = Sampler(lex, rng, nonce=cfg.nonce)
    cuts = (cfg.splits[0], cfg.splits[0] + cfg.splits[1])
    numbers, condition, variant = cell.numbers, cell.condition, cell.variant
    name, nonce, build = cell.construction, cfg.nonce, con.build
    attractor_numbers = list(numbers[1:])
    n_attr = len(attractor_numbers)
    head_number = numbers[0]
    seen: set[str] = set()
    exclude = excluded_sentences(cfg.exclude_items)
    rows: list[tuple] = []
    types = con.verb_types
    attempts, max_attempts = 0, 50 * n + 1000
    while len(rows) < n:
        attempts += 1
        if attempts > max_attempts:
            raise ProbeError(
                f"cell {cell.key}: only {len(rows)} distinct items found for the {n} asked; the lexicon is too "
                "small for this size: lower --per-condition/--size or add words to the lexicon")
        verb_type = types[len(rows) % len(types)]
        parts = build(sampler, numbers, verb_type, variant)
        toks = parts.tokens
        good = " ".join(toks)
        if good in seen or good in exclude:
            continue
        seen.add(good)
        vi, hi, ai = parts.verb_index, parts.head_index, parts.attractor_indices
        prefix = " ".join(toks[:vi])
        rest = " ".join(toks[vi + 1:])
        bad = f"{prefix} {parts.verb_bad} {rest}" if rest else f"{prefix} {parts.verb_bad}"
        # the nearest noun before the verb: the head or the last attractor before the verb
        nearest = max((i for i in ai if i < vi), default=-1)
        if nearest < hi:
            nearest, nearest_number = hi, head_number
        else:
            nearest_number = attractor_numbers[ai.index(nearest)]
        iid = item_id(name, condition, verb_type, good, nonce)
        rows.append((
            iid, name, condition, n_attr, toks[hi], head_number, hi,
            [toks[i] for i in ai], attractor_numbers, list(ai), toks[nearest], nearest_number,
            prefix, parts.verb_good, parts.verb_bad, vi, verb_type, good, bad, vi - hi - 1, nonce,
            _split_of(iid, cuts) if cuts[1] > 0 else "test", "probe", "",
        ))
    return rows


def build_items(cfg: BuildConfig = BuildConfig(), lexicon: Lexicon | None = None) -> list[dict]:
    """All items of a build as rows (dicts in the ITEM_FEATURES schema), in a deterministic order."""
    check_config(cfg)
    lex = lexicon or load_lexicon(cfg.lexicon)
    cells = cells_for(cfg)
    rows: list[dict] = []
    for cell, n in zip(cells, cell_sizes(cfg, len(cells))):
        if n:
            rows.extend(dict(zip(ITEM_COLUMNS, t)) for t in build_cell(lex, cfg, cell, n))
    return rows


def _build_chunk(args: tuple) -> tuple[bytes, object, int]:
    """Worker: build a run of cells, return (JSON lines as bytes, Arrow table, item count)."""
    cfg, lex_path, jobs = args
    lex = load_lexicon(lex_path)
    rows: list[tuple] = []
    for cell, n in jobs:
        rows.extend(build_cell(lex, cfg, cell, n))
    return jsonl_lines(rows).encode("utf-8"), arrow_table(rows), len(rows)


def _chunks(jobs: list, k: int) -> list[list]:
    """Split the cell list into k contiguous runs of roughly equal item counts (order is kept)."""
    total = sum(n for _, n in jobs) or 1
    out, cur, acc = [], [], 0
    for job in jobs:
        cur.append(job)
        acc += job[1]
        if acc >= total * (len(out) + 1) / k and len(out) < k - 1:
            out.append(cur)
            cur = []
    out.append(cur)
    return [c for c in out if c]


def build_dataset(cfg: BuildConfig = BuildConfig(), out: str | os.PathLike = DEFAULT_OUT,
                  overwrite: bool = False, workers: int | None = None) -> str:
    """Run ``probe build``: build every cell and write the dataset folder; return a one-line summary.

    Cells are built in ``workers`` processes (default: all CPUs, at most 8) and concatenated in cell
    order, so the output is byte-identical whatever the number of workers.
    """
    import pyarrow as pa

    check_config(cfg)
    check_output_dir(out, overwrite)
    lex = load_lexicon(cfg.lexicon)
    t0 = time.perf_counter()
    cells = cells_for(cfg)
    jobs = [(c, n) for c, n in zip(cells, cell_sizes(cfg, len(cells))) if n]
    workers = max(1, min(workers or os.cpu_count() or 1, 8, len(jobs)))
    args = [(cfg, lex.path, chunk) for chunk in _chunks(jobs, workers)]
    with atomic_dir(out, overwrite=overwrite) as tmp:
        if workers == 1:
            parts = [_build_chunk(a) for a in args]
        else:
            import multiprocessing as mp

            from probe.core.workers import end_with_parent

            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ctx.Pool(workers, initializer=end_with_parent, initargs=(os.getpid(),)) as pool:
                parts = pool.map(_build_chunk, args)
        table = pa.concat_tables([t for _, t, _ in parts])
        n_items = sum(k for _, _, k in parts)
        columns = {k: table.column(k).to_pylist()
                   for k in ("id", "construction", "condition", "verb_type", "split", "distance")}
        intro = ("Subject-verb agreement minimal pairs with attractors, built by `probe build` "
                 f"(seed {cfg.seed}{', nonce words' if cfg.nonce else ''}) from "
                 f"{'the lexicon ' + repr(cfg.lexicon) if cfg.lexicon else 'the shipped lexicon'} "
                 f"(sha256 {lexicon_digest(lex.path)[:12]}).")
        resolved = {**config_to_dict(cfg), "lexicon_sha256": lexicon_digest(lex.path), "n_items": n_items,
                    "n_cells": len(cells), "probe_version": __version__}
        fill_item_folder(tmp, table, (blob for blob, _, _ in parts),
                         card=dataset_card(columns, title="probe agreement benchmark", intro=intro,
                                           by_distance={c.construction for c in cells
                                                        if CONSTRUCTIONS[c.construction].distance_variants},
                                           license=PROBE_LICENSE, num_bytes=sum(len(blob) for blob, _, _ in parts)),
                         config=resolved)
    secs = time.perf_counter() - t0
    return f"wrote {n_items} items in {len(cells)} cells to {out} ({secs:.1f} s, {n_items / secs:,.0f} items/s)"
