"""Item folders: load and check them, prepare items for scoring, write them (built, imported or extracted)."""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Collection, Iterable, Sequence

import datasets
import numpy as np
import pandas as pd

from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, save_config
from probe.data.records import ITEM_COLUMNS, ITEM_FEATURES, REQUIRED_COLUMNS, item_classes


def _kind(value) -> str | None:
    """The JSON kind of ``value`` as error messages name it (None for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _feature_kind(feature) -> str:
    """The JSON kind an ``ITEM_FEATURES`` column holds ('a list of strings' for a Sequence)."""
    if isinstance(feature, datasets.Sequence):
        return f"a list of {_feature_kind(feature.feature)[2:]}s"
    dtype = feature.dtype
    if dtype == "string":
        return "a string"
    if dtype == "bool":
        return "true or false"
    return "an integer" if dtype.startswith("int") else "a number"


def _fits(value, feature) -> bool:
    """``value`` (not null) is what the ``ITEM_FEATURES`` column ``feature`` holds."""
    if isinstance(feature, datasets.Sequence):
        return isinstance(value, list) and all(v is None or _fits(v, feature.feature) for v in value)
    kind = _feature_kind(feature)
    if kind == "an integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "a number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return _kind(value) == kind


def check_items_jsonl(path: str | os.PathLike) -> int:
    """Check an items JSONL file line by line and return its number of items.

    ``datasets`` reports a malformed line as "An error occurred while generating the dataset", so the
    file is read here first (one ``json.loads`` per line) and the first problem is a one-line
    ProbeError naming the file, the line and what is wrong: not UTF-8, not JSON, not an object, a
    required column missing or null, a schema column of the wrong type, or a column whose type
    changes from one line to another (Arrow needs one type per column).
    """
    path = Path(path)
    n_items = 0
    seen: dict[str, tuple[str, int]] = {}  # extra column -> (its kind, first line holding it)
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ProbeError(f"{path} line {n}: not UTF-8 text; save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ProbeError(f"{path} line {n}: not valid JSON ({str(exc).split(':')[0]}); "
                                 "each line must be one JSON object") from None
            if not isinstance(rec, dict):
                raise ProbeError(f"{path} line {n}: expected a JSON object, got {_kind(rec) or 'null'}; "
                                 "each line must be one item")
            missing = [c for c in REQUIRED_COLUMNS if c not in rec]
            if missing:
                raise ProbeError(f"{path} line {n}: the item lacks the column(s) {', '.join(missing)}; "
                                 f"items need at least {', '.join(REQUIRED_COLUMNS)}")
            for name, value in rec.items():
                feature = ITEM_FEATURES.get(name)
                if feature is not None:
                    bad = name in REQUIRED_COLUMNS if value is None else not _fits(value, feature)
                    if bad:
                        shown = "null" if value is None else repr(value)
                        shown = shown if len(shown) <= 60 else shown[:57] + "..."
                        raise ProbeError(f"{path} line {n}: field {name!r} must be {_feature_kind(feature)}, "
                                         f"got {shown}")
                    continue
                kind = _kind(value)
                if kind is None:
                    continue
                first = seen.setdefault(name, (kind, n))
                if first[0] != kind:
                    raise ProbeError(f"{path} line {n}: field {name!r} is {kind} but {first[0]} on line {first[1]}; "
                                     "give a column one type on every line")
            n_items += 1
    if not n_items:
        raise ProbeError(f"{path} holds no items; build some with `probe build --out DIR`")
    return n_items


# An item folder's Arrow copy (``save_to_disk``) lives in this subfolder: ``datasets.load_dataset`` refuses a
# folder that holds a ``save_to_disk`` dataset itself, and the folder is meant to load with it as it is.
ARROW_DIR = "arrow"


def load_items(path: str | os.PathLike) -> datasets.Dataset:
    """Load items from an item folder (its ``arrow/`` copy; a ``save_to_disk`` folder, as older versions wrote at
    the top), an ``items.jsonl`` file or a folder holding one.

    Raises ProbeError if the path is not a dataset or lacks a required column; a JSONL file is
    checked first (:func:`check_items_jsonl`), so a malformed line is named with its line number.
    """
    p = Path(path)
    try:
        if p.is_dir() and (p / ARROW_DIR / "state.json").is_file():
            ds = datasets.load_from_disk(str(p / ARROW_DIR))
        elif p.is_dir() and ((p / "dataset_info.json").is_file() or (p / "state.json").is_file()):
            ds = datasets.load_from_disk(str(p))
        elif p.is_dir() and (p / "items.jsonl").is_file():
            check_items_jsonl(p / "items.jsonl")
            ds = datasets.Dataset.from_json(str(p / "items.jsonl"))
        elif p.is_file() and p.suffix in (".jsonl", ".json"):
            if p.suffix == ".jsonl":
                check_items_jsonl(p)
            ds = datasets.Dataset.from_json(str(p))
        else:
            raise ProbeError(f"{p} is not an item dataset (no dataset_info.json or items.jsonl); "
                             "build one with `probe build --out DIR`")
    except (OSError, ValueError, datasets.exceptions.DatasetGenerationError) as exc:
        # datasets wraps the real reason ("JSON parse error ... in row 2") in a generic message
        cause = exc.__cause__ if isinstance(exc, datasets.exceptions.DatasetGenerationError) and exc.__cause__ else exc
        text = str(cause).strip().splitlines()
        raise ProbeError(f"cannot read item dataset {p}: {text[0] if text else type(cause).__name__}") from exc
    if isinstance(ds, datasets.DatasetDict):
        raise ProbeError(f"{p} holds several splits; point at one split's folder")
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise ProbeError(f"item dataset {p} lacks the column(s) {', '.join(missing)}; "
                         f"items need at least {', '.join(REQUIRED_COLUMNS)}")
    return ds


def _q(s: str) -> str:
    return f'"{s}"'


def jsonl_lines(rows: list[tuple]) -> str:
    """Item tuples -> JSON lines, keys in schema order; the same bytes as ``json.dumps`` of each row.

    Hand-formatted because json.dumps dominated million-item builds; safe because lexicon forms are
    checked to need no JSON escaping (``lexicon.SAFE_FORM``) and every other string is built here.
    """
    b = {True: "true", False: "false"}
    return "".join(
        f'{{"id": "{r[0]}", "construction": "{r[1]}", "condition": "{r[2]}", "n_attractors": {r[3]}, '
        f'"head": "{r[4]}", "head_number": "{r[5]}", "head_index": {r[6]}, '
        f'"attractors": [{", ".join(map(_q, r[7]))}], "attractor_numbers": [{", ".join(map(_q, r[8]))}], '
        f'"attractor_indices": [{", ".join(map(str, r[9]))}], "nearest_noun": "{r[10]}", '
        f'"nearest_number": "{r[11]}", "prefix": "{r[12]}", "verb_good": "{r[13]}", "verb_bad": "{r[14]}", '
        f'"verb_index": {r[15]}, "verb_type": "{r[16]}", "sentence_good": "{r[17]}", '
        f'"sentence_bad": "{r[18]}", "distance": {r[19]}, "nonce": {b[r[20]]}, "split": "{r[21]}", '
        f'"source": "{r[22]}", "source_id": "{r[23]}"}}\n'
        for r in rows)


def arrow_table(rows: list[tuple]):
    """Row tuples in ITEM_COLUMNS order -> an Arrow table with the schema's types."""
    return _arrow_columns(list(zip(*rows)) if rows else [[] for _ in ITEM_COLUMNS])


def _arrow_columns(columns: Sequence[Sequence]):
    """Columns in ITEM_COLUMNS order -> an Arrow table with the schema's types (several times faster than
    ``Dataset.from_dict(features=...)``)."""
    import pyarrow as pa

    return pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in
                                 zip(columns, ITEM_FEATURES.arrow_schema)], schema=ITEM_FEATURES.arrow_schema)


def write_item_folder(rows: list[dict], out: str | os.PathLike, *, config: object, card_title: str,
                      card_intro: str = "", license: str = "other", citation: str | None = None,
                      overwrite: bool = False) -> Path:
    """Write an item dataset folder atomically: items.jsonl, README.md (a dataset card, so ``datasets.load_dataset``
    reads the folder; ``license`` is its Hub licence id, ``citation`` its BibTeX, see :func:`dataset_card`), the
    Arrow copy ``arrow/`` (``datasets.load_from_disk``) and config.json.

    Shared by the importers and the extractor, so every item folder looks the same as ``probe build``'s.
    """
    if not rows:
        raise ProbeError("no items to write; check the selection")
    with atomic_dir(out, overwrite=overwrite) as tmp:
        columns = {k: [r[k] for r in rows] for k in ITEM_COLUMNS}
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        lines = [(dumps({k: r[k] for k in ITEM_COLUMNS}) + "\n").encode("utf-8") for r in rows]
        fill_item_folder(tmp, _arrow_columns([columns[k] for k in ITEM_COLUMNS]), lines,
                         card=dataset_card(columns, title=card_title, intro=card_intro, license=license,
                                           citation=citation, num_bytes=sum(map(len, lines))), config=config)
    return Path(out)


def fill_item_folder(tmp: Path, table: Any, jsonl: Iterable[bytes], *, card: str, config: object) -> None:
    """The files of an item folder, written into ``tmp`` (an ``atomic_dir``): items.jsonl from its ``jsonl``
    lines, README.md (``card``, :func:`dataset_card`), the HF dataset of the Arrow ``table`` (ITEM_FEATURES'
    schema) in ``arrow/`` and config.json. The one writer behind ``probe build``, the importers and the
    extractor."""
    datasets.Dataset(table).save_to_disk(str(tmp / ARROW_DIR), max_shard_size="500MB")
    with open(tmp / "items.jsonl", "wb") as fh:
        fh.writelines(jsonl)
    (tmp / "README.md").write_text(card, encoding="utf-8")
    save_config(config, tmp)


# The licence and citation of items built from probe's shipped lexicon; imported and extracted items carry
# their source's licence ('other' on their card until the importer names it).
PROBE_LICENSE = "mit"
PROBE_CITATION = """@software{probe_agreement,
  title = {probe: subject-verb agreement minimal pairs with attractors, and language models scored on them},
  version = {%s},
  note = {Items built with `probe build`; design after Linzen, Dupoux and Goldberg (2016), TACL 4, and
          Marvin and Linzen (2018), EMNLP}
}"""


def _size_category(n: int) -> str:
    """The Hub's ``size_categories`` label of ``n`` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return label
    return "10M<n<100M"


def _yaml_features() -> list[dict]:
    """``ITEM_FEATURES`` as a card's ``dataset_info.features`` (``sequence:`` lists, which datasets 2.x-5.x read)."""
    out = []
    for name, feature in ITEM_FEATURES.items():
        if isinstance(feature, datasets.Sequence):
            out.append({"name": name, "sequence": feature.feature.dtype})
        else:
            out.append({"name": name, "dtype": feature.dtype})
    return out


def card_split(splits: Iterable[str]) -> str:
    """The Hub split that holds every row of ``items.jsonl``: the items' own split when they share one
    ('valid' -> 'validation'), else 'items' (the ``split`` column then tells each row's)."""
    names = set(splits)
    if len(names) == 1:
        only = names.pop()
        return "validation" if only == "valid" else only if re.fullmatch(r"\w+", only or "") else "items"
    return "items"


def card_metadata(n_items: int, split: str, *, title: str, license: str = "other", num_bytes: int = 0) -> str:
    """The YAML block that opens a dataset card: ``datasets.load_dataset(DIR)`` reads ``items.jsonl`` with
    ``ITEM_FEATURES`` through it (checking the number of rows), and the Hub shows it (licence, task, size, pretty
    name). ``num_bytes``: the size of items.jsonl (the split's and the download's size; datasets checks only
    the number of rows, so an Arrow size, which depends on how the rows are chunked, is not needed)."""
    import yaml

    meta = {
        "pretty_name": title,
        "language": ["en"],
        "license": license,
        "task_categories": ["text-classification"],
        "task_ids": ["acceptability-classification"],
        "size_categories": [_size_category(n_items)],
        "tags": ["minimal-pairs", "subject-verb-agreement", "syntax", "language-model-evaluation"],
        "configs": [{"config_name": "default", "data_files": [{"split": split, "path": "items.jsonl"}]}],
        "dataset_info": {"config_name": "default", "features": _yaml_features(),
                         "splits": [{"name": split, "num_bytes": int(num_bytes), "num_examples": int(n_items)}],
                         "download_size": int(num_bytes)},
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def dataset_card(columns: dict, *, title: str, intro: str = "", by_distance: Collection[str] = (),
                 license: str = "other", citation: str | None = None, num_bytes: int = 0) -> str:
    """A Hugging Face dataset card from item columns: YAML metadata (:func:`card_metadata`), then for readers
    the schema and counts per construction x condition; the constructions in ``by_distance`` are balanced per
    head-verb distance too, so their cells show it: 'S@d3'. ``citation`` (BibTeX): probe's by default;
    ``num_bytes``: the size of items.jsonl."""
    from probe import __version__

    dist = columns.get("distance") or [0] * len(columns["id"])
    by_cell = Counter((k, f"{c}@d{d}" if k in by_distance else c)
                      for k, c, d in zip(columns["construction"], columns["condition"], dist))
    by_con = Counter(columns["construction"])
    by_type = Counter(columns["verb_type"])
    by_split = Counter(columns["split"])
    n = len(columns["id"])
    split = card_split(by_split)
    where = (f"`datasets.load_dataset(DIR)` (split `{split}`"
             + (", each row's own split in the `split` column" if split == "items" else "") + ")")
    lines = [card_metadata(n, split, title=title, license=license, num_bytes=num_bytes), f"# {title}", "", intro, "",
             f"{n} minimal pairs. Load with {where}, or its Arrow copy with `datasets.load_from_disk(DIR/arrow)`, "
             "or read `items.jsonl` (one JSON object per pair).", "",
             "Splits: " + ", ".join(f"{k} {v}" for k, v in sorted(by_split.items())) + ".  ",
             "Target verb types: " + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items())) + ".", "",
             "Condition codes: one letter per noun, head first, then attractors in sentence order "
             "(S = singular, P = plural): `SP` = singular head, plural attractor. The schema is "
             "`probe.data.records.ITEM_FEATURES`; the project README describes each field.", "",
             "## Items per construction x condition", "",
             "| construction | items | per condition |", "|---|---:|---|"]
    for con in by_con:
        conds = sorted((c for (k, c) in by_cell if k == con), key=lambda c: (len(c.split("@")[0]), len(c), c))
        lines.append(f"| {con} | {by_con[con]} | " + ", ".join(f"{c} {by_cell[(con, c)]}" for c in conds) + " |")
    lines += ["", "## Citation", "", "```bibtex", citation or PROBE_CITATION % __version__, "```"]
    return "\n".join(lines) + "\n"


_CODE = re.compile(r"^[SP]+$")


_NUM = {"S": "sg", "P": "pl"}


def prepare_items(items: Any) -> pd.DataFrame:
    """Items (Dataset, DataFrame or list of dicts) -> DataFrame with every column scoring needs.

    Optional schema columns missing from user data are derived from the condition code where it is
    one ('SP'), else filled with neutral values ('' / 0 / False).
    """
    if hasattr(items, "to_pandas"):
        df = items.to_pandas()
    elif isinstance(items, pd.DataFrame):
        df = items.copy()
    else:
        df = pd.DataFrame(list(items))
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing and len(df):
        raise ProbeError(f"items lack the column(s) {', '.join(missing)}; items need at least "
                         f"{', '.join(REQUIRED_COLUMNS)}")
    for c in REQUIRED_COLUMNS:
        if c not in df.columns:
            df[c] = pd.Series(dtype=object)
    df = df.reset_index(drop=True)
    cond = df["condition"].astype(str)
    is_code = cond.str.match(_CODE)
    if "head_number" in df.columns and "attractor_numbers" in df.columns:
        # imported items may name conditions their own way: rebuild the code from the numbers
        alt = df["head_number"].map({"sg": "S", "pl": "P"}).fillna("?") + df["attractor_numbers"].map(
            lambda ns: "".join({"sg": "S", "pl": "P"}.get(n, "?") for n in (ns if ns is not None else ())))
        code = cond.where(is_code, alt)
    else:
        code = cond.where(is_code, "")
    valid = code.str.match(_CODE)
    if "head_number" not in df.columns:
        df["head_number"] = code.str[0].map(_NUM).where(valid, "")
    if "attractor_numbers" not in df.columns:
        df["attractor_numbers"] = code.map(lambda c: [_NUM[x] for x in c[1:]] if _CODE.match(c) else [])
    df["attractor_numbers"] = df["attractor_numbers"].map(lambda ns: [str(n) for n in ns] if ns is not None else [])
    if "n_attractors" not in df.columns:
        df["n_attractors"] = code.str.len().sub(1).where(valid, 0)
    defaults = {"verb_type": "other", "nonce": False, "nearest_number": "", "distance": -1, "split": "test"}
    for col, value in defaults.items():
        if col not in df.columns:
            df[col] = value
    df["nearest_number"] = df["nearest_number"].fillna("").astype(str)
    df["head_number"] = df["head_number"].fillna("").astype(str)
    df["n_attractors"] = df["n_attractors"].fillna(0).astype(np.int64)
    if "head_index" in df.columns and "attractor_indices" in df.columns:
        df["nearest_number"] = _nearest_from_positions(df)
    classes, mismatched = item_classes(df["head_number"], df["attractor_numbers"], df["nearest_number"],
                                       df["n_attractors"])
    df["match"], df["n_mismatched"] = classes, np.asarray(mismatched, dtype=np.int64)
    return df


def _nearest_from_positions(df: pd.DataFrame) -> pd.Series:
    """``nearest_number``, filled in where it is missing but the head's and attractors' positions are known
    (the number of whichever of them stands last before the verb)."""
    near = df["nearest_number"].tolist()
    for i in np.flatnonzero(df["nearest_number"].to_numpy(str) == ""):
        head_i, idx = df.at[i, "head_index"], df.at[i, "attractor_indices"]
        nums, n_att = df.at[i, "attractor_numbers"], int(df.at[i, "n_attractors"])
        # every attractor must be placed: an item that counts attractors it does not locate (or does not
        # know how many it has) has no known nearest noun
        if head_i is None or pd.isna(head_i) or head_i < 0 or idx is None or len(idx) != len(nums) \
                or len(idx) != n_att or any(j < 0 for j in idx):
            continue
        positions = [(int(head_i), df.at[i, "head_number"]), *zip(map(int, idx), nums)]
        near[i] = max(positions)[1]
    return pd.Series(near, index=df.index, dtype=object)


def check_unique_ids(df: pd.DataFrame, where: str | os.PathLike) -> None:
    """ProbeError if two items of ``df`` share an id: scores, exclusions and pairing across seeds are keyed by it."""
    counts = df["id"].value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        more = f" ({len(repeated)} ids repeat)" if len(repeated) > 1 else ""
        raise ProbeError(f"{where}: item id {repeated.index[0]!r} is used {int(repeated.iloc[0])} times{more}; give "
                         f"each item its own id (`probe validate {where}` lists them)")


def read_items(path: str | os.PathLike, *, n: int = 0, seed: int = 0) -> pd.DataFrame:
    """An item folder or JSONL file, prepared for scoring; a seeded sample of ``n`` items (0: all)."""
    from probe.data.items import load_items

    df = prepare_items(load_items(path))
    check_unique_ids(df, path)
    if n and len(df) > n:
        df = df.sample(n=n, random_state=seed).reset_index(drop=True)
    return df


def select_items(df: pd.DataFrame, *, split: str | None, constructions: Sequence[str], where: str) -> pd.DataFrame:
    """Keep one split and some constructions; an empty result is a ProbeError naming what is there."""
    keep = np.ones(len(df), dtype=bool)
    if split:
        keep &= (df["split"] == split).to_numpy()
    if constructions:
        keep &= df["construction"].isin(constructions).to_numpy()
    out = df[keep].reset_index(drop=True)
    if not len(out):
        have_s = ", ".join(sorted(map(str, df["split"].unique()))) if len(df) else "none"
        have_c = ", ".join(sorted(map(str, df["construction"].unique()))) if len(df) else "none"
        raise ProbeError(f"{where}: no items selected (split={split or 'all'}, constructions="
                         f"{','.join(constructions) or 'all'}); the data has splits {have_s} and "
                         f"constructions {have_c}")
    return out


def load_data(paths: Sequence[str], *, split: str | None, constructions: Sequence[str]) -> pd.DataFrame:
    """Load, check and select every dataset; adds a ``data`` column naming each one."""
    from probe.data.items import load_items

    frames = []
    names = [Path(p).stem if Path(p).is_file() else Path(p).name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{n}#{i}" for i, n in enumerate(names)]
    for path, name in zip(paths, names):
        df = prepare_items(load_items(path))
        check_unique_ids(df, path)
        df = select_items(df, split=split, constructions=constructions, where=str(path))
        df["data"] = name
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
