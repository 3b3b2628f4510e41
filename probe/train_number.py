"""Number prediction (Linzen et al. 2016's supervised task): read the prefix up to the verb, predict the verb's number.

A classifier sees ``<eos>`` + the words before the verb (the scoring convention of the language models)
and outputs sg or pl. Unlike a language model it may read the prefix in both directions: the whole
prefix is given and the verb is not part of it, so nothing it must predict is visible.

Encoders are PyTorch's multi-layer ``nn.RNN`` (tanh/relu SRN), ``nn.GRU`` and ``nn.LSTM``, uni- or
bidirectional (``probe.models.classifier``; the language models of ``probe.models.lm`` refuse ``bidirectional``).
Features for the softmax over {sg, pl} (``pooling``):

``final`` (default)
    unidirectional: the top layer's hidden state at the last prefix word; bidirectional: the
    concatenation of the forward direction's state at the last word and the backward direction's
    state at the first position (each direction's final state, what ``h_n`` holds).
``mean``
    the mean of the top layer's outputs (both directions concatenated) over the prefix.

Training data (``data``):
``grammar`` (default)
    every agreement dependency of the synthetic corpus' own training sentences (the grammar is re-run
    with the corpus folder's config and seed: the stream the language models' training split was cut
    from, before the corpus dropped sentences equal to benchmark items): prefix = the tokens before the
    verb, label = the verb's number in the lexicon. This is the natural distribution, with the corpus'
    attractor rate. Dependencies whose prefix equals a test item's prefix are left out (stricter than
    the corpus, which drops only whole benchmark sentences).
``items``
    the ``train`` split of a builder item dataset (``probe build --splits 0.8 0.1 0.1``), ``valid`` for
    model selection.
The test set is always item data (the ``test`` split, or every item when there is no split).

``probe train --objective number`` trains one classifier (``train_number``); the ``number`` analysis
(``probe.analyses.number``) trains them beside the language models and compares the two objectives.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import os
from pathlib import Path
import time
from typing import Annotated, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from probe.core.config import (NonNegativeFloat, NonNegativeInt, OneOf, PositiveFloat, PositiveInt, Range,
                               config_from_dict, config_to_dict, field_values)
from probe.core.device import resolve_device
from probe.core.errors import ProbeError
from probe.core.io import atomic_dir, check_output_dir, save_config, write_bytes_atomic, write_text_atomic
from probe.data.corpus import EOS, UNK, Vocab, load_corpus
from probe.models.cells import get_cell, recurrent_cells
from probe.models.classifier import LABELS, OBJECTIVE, ClassifierConfig, ClassifierShape, NumberClassifier
from probe.scoring.base import pad_right


DATA_SOURCES = ("grammar", "items")
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class NumberConfig(ClassifierShape):
    """Options of ``probe train --objective number``: the classifier's shape (the fields of ``ClassifierShape``:
    arch, bidirectional, layers, hidden, emb, dropout, nonlinearity, pooling, declared there), data, optimisation."""

    data: Annotated[str, OneOf(DATA_SOURCES)] = "grammar"   # grammar: the corpus' own sentences | items: an item
                                                            #   dataset's train split
    n_sentences: PositiveInt = 20_000   # grammar: sentences read (capped at the corpus' training sentences)
    valid_fraction: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.1   # grammar: share of those
                                        #   sentences held out for model selection
    optimizer: Annotated[str, OneOf(OPTIMIZERS)] = "adam"   # adam | sgd
    lr: PositiveFloat = 3e-3            # learning rate
    batch_size: PositiveInt = 64        # prefixes per update (batches hold prefixes of one length: no padding)
    epochs: PositiveInt = 3             # passes over the training examples; the best epoch by validation is kept
    clip: NonNegativeFloat = 1.0        # gradient-norm clipping (0 = off)
    seed: NonNegativeInt = 0            # initialisation, data order, train/valid split
    device: Annotated[str, OneOf(DEVICES)] = "cpu"   # cpu | cuda | auto


class NumberData(NamedTuple):
    """Examples as one right-padded id matrix (rows start with <eos>)."""

    ids: np.ndarray        # int64 [N, T_max]
    lengths: np.ndarray    # int64 [N]: tokens per row, <eos> included
    labels: np.ndarray     # int64 [N]: 0 sg, 1 pl
    attracted: np.ndarray  # bool [N]: a noun of the other number lies between controller and verb


class NumberCheckpoint(NamedTuple):
    model: "NumberClassifier"     # eval mode
    config: ClassifierConfig
    vocab: Vocab
    train_config: dict
    train_state: dict


# ---------------------------------------------------------------------------------------------------
# The classifier


def check_number_config(cfg: NumberConfig) -> None:
    """One-line ProbeErrors for impossible combinations of options (before anything is read or written); each
    field's own range and choices are checked where the config is made."""
    if cfg.arch not in recurrent_cells():
        raise ProbeError(f"arch {cfg.arch!r} has no number classifier; choose from {', '.join(recurrent_cells())}")
    if cfg.nonlinearity != "tanh" and "nonlinearity" not in get_cell(cfg.arch).options:
        raise ProbeError(f"nonlinearity does not apply to the {cfg.arch} cell (its table entry has no such option)")


def classifier_config_for(cfg: NumberConfig, vocab_size: int) -> ClassifierConfig:
    """The ClassifierConfig a number-training config describes, for a vocabulary of ``vocab_size`` types."""
    return ClassifierConfig(**field_values(cfg, ClassifierShape), vocab_size=vocab_size)


def load_number_checkpoint(path_or_dir: str | os.PathLike, device: str = "cpu") -> NumberCheckpoint:
    """Load a classifier written by :func:`train_number` (file or ``DIR/model.pt``), in eval mode."""
    from probe.models.checkpoint import read_checkpoint

    data = read_checkpoint(path_or_dir)
    if data["train_state"].get("objective") != OBJECTIVE:
        raise ProbeError(f"{data['path']} is a language model, not a number classifier; train one with "
                         "`probe train --objective number`")
    cfg = config_from_dict(ClassifierConfig, data["model_config"], where=f"{data['path']}: model_config")
    if cfg.arch not in recurrent_cells():
        raise ProbeError(f"{data['path']}: its cell {cfg.arch!r} is not registered here; register it "
                         "(probe.models.cells.register_cell) before loading the classifier")
    try:
        vocab = Vocab(tuple(data["vocab"]))
    except ValueError as exc:
        raise ProbeError(f"{data['path']}: its vocabulary is damaged ({exc}); retrain the classifier") from exc
    model = NumberClassifier(cfg)
    try:
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError) as exc:
        raise ProbeError(f"{data['path']}: weights do not fit its config ({str(exc).splitlines()[0][:200]}); "
                         "retrain the classifier") from exc
    return NumberCheckpoint(model.to(device).eval(), cfg, vocab, dict(data["train_config"]), dict(data["train_state"]))


# ---------------------------------------------------------------------------------------------------
# Data


def item_examples(items: pd.DataFrame, vocab: Vocab) -> tuple[NumberData, np.ndarray]:
    """Prepared items -> (examples: <eos> + prefix ids, label = head number; in-vocabulary mask [N]).

    Words outside ``vocab`` become <unk>; the mask marks items without any (``Vocab.is_known``, the rule the
    language models' evaluation excludes the others by, so the comparison reads the same items).
    """
    from probe.scoring.items import encode_column

    rows, codes, oov = encode_column(items["prefix"], vocab, prepend_eos=True)
    ids, lengths = pad_right(rows)
    heads = items["head_number"].astype(str).to_numpy()
    if not np.isin(heads, LABELS).all():
        raise ProbeError("some items have no head number (sg/pl); number prediction needs the head_number column")
    labels = (heads == "pl").astype(np.int64)
    attracted = (items["match"].isin(["conflict", "mismatched_no_conflict"])).to_numpy() \
        if "match" in items.columns else np.zeros(len(items), dtype=bool)
    return NumberData(ids[codes], lengths[codes], labels, attracted), ~oov[codes]


def read_corpus_config(corpus_dir: str | os.PathLike) -> dict:
    """The config.json of a synthetic corpus folder (ProbeError for real-text corpora or none)."""
    p = Path(corpus_dir)
    if not ((p / "config.json").is_file() and (p / "vocab.json").is_file() and (p / "train.npy").is_file()):
        raise ProbeError(f"{p} is not a probe corpus (config.json, vocab.json, train.npy); give a folder written "
                         "by `probe corpus`")
    try:
        data = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ProbeError(f"{p}/config.json is not readable JSON ({exc}); rebuild the corpus") from exc
    if data.get("source", "synthetic") != "synthetic":
        raise ProbeError(f"{p} is a {data.get('source')} corpus: its sentences carry no subject-verb "
                         "dependencies; train on items instead (data='items', an item set with a train split)")
    if "attractor_rate" not in data:
        raise ProbeError(f"{p}/config.json has no attractor_rate; give a synthetic corpus written by `probe corpus`")
    return data


def grammar_examples(corpus_dir: str | os.PathLike, vocab: Vocab, *, n_sentences: int, valid_fraction: float,
                     seed: int, exclude_prefixes: set[str] = frozenset()) -> tuple[NumberData, NumberData, dict]:
    """Every agreement dependency of the corpus' first ``n_sentences`` training sentences -> (train, valid, facts).

    The grammar is re-run with the corpus folder's resolved config (rates, depth, probabilities,
    lexicon, seed): the stream the corpus' training split was cut from. A dependency whose prefix
    equals one of ``exclude_prefixes`` (the test items') is left out. The valid examples come from a
    seeded ``valid_fraction`` of the sentences. Returns NumberData rows of <eos> + prefix ids.
    """
    from probe.data.grammar import Grammar, GrammarProbs
    from probe.data.lexicon import load_lexicon

    ccfg = read_corpus_config(corpus_dir)
    lex = load_lexicon(ccfg.get("lexicon"))
    probs = config_from_dict(GrammarProbs, ccfg.get("grammar", {}), where=f"{corpus_dir}/config.json: grammar")
    grammar = Grammar(lex, attractor_rate=ccfg["attractor_rate"], match_rate=ccfg.get("match_rate"),
                      max_depth=ccfg.get("max_depth", 3), probs=probs)
    n_total = int(ccfg.get("n_sentences", n_sentences))
    n_train_corpus = n_total - int(round(n_total * ccfg.get("valid_fraction", 0.0))) \
        - int(round(n_total * ccfg.get("test_fraction", 0.0)))
    n = max(1, min(n_sentences, n_train_corpus))
    sentences = []
    for sent in grammar.stream(int(ccfg.get("seed", 0))):
        sentences.append(sent)
        if len(sentences) == n:
            break
    verb_number, noun_number = lex.verb_number, lex.noun_number
    rows, labels, attracted, sent_of = [], [], [], []
    skipped = 0
    for k, sent in enumerate(sentences):
        toks = sent.tokens
        ids = [vocab.eos_id, *vocab.encode(toks)]
        for c, v, _kind in sent.deps:
            if exclude_prefixes and " ".join(toks[:v]) in exclude_prefixes:
                skipped += 1
                continue
            rows.append(ids[: v + 1])
            label = verb_number[toks[v]]
            labels.append(int(label == "pl"))
            attracted.append(any(noun_number.get(t, label) != label for t in toks[c + 1: v]))
            sent_of.append(k)
    if not rows:
        raise ProbeError(f"the grammar of {corpus_dir} gave no agreement dependencies; raise n_sentences")
    ids, lengths = pad_right(rows)
    data = NumberData(ids, lengths, np.asarray(labels, dtype=np.int64), np.asarray(attracted, dtype=bool))
    rng = np.random.default_rng([seed, 7])
    valid_sent = rng.random(len(sentences)) < valid_fraction
    is_valid = valid_sent[np.asarray(sent_of)]
    if is_valid.all() or not is_valid.any():
        raise ProbeError(f"{len(sentences)} sentences are too few for a train/valid split; raise n_sentences")
    train, valid = (NumberData(*(a[~is_valid] for a in data)), NumberData(*(a[is_valid] for a in data)))
    facts = {"corpus": str(corpus_dir), "corpus_attractor_rate": ccfg["attractor_rate"], "sentences": len(sentences),
             "examples_train": int(len(train.labels)), "examples_valid": int(len(valid.labels)),
             "train_attracted_share": float(train.attracted.mean()), "skipped_test_prefixes": skipped}
    return train, valid, facts


def save_examples(path: str | os.PathLike, examples: tuple[NumberData, NumberData, dict]) -> Path:
    """Write (train, valid, facts) as ``grammar_examples`` returns them to one .npz file, atomically, so that a
    classifier trained in another process or on another machine reads the very same examples."""
    import io

    train, valid, facts = examples
    arrays = {f"{part}_{name}": getattr(data, name) for part, data in (("train", train), ("valid", valid))
              for name in NumberData._fields}
    buf = io.BytesIO()
    np.savez(buf, facts=np.asarray(json.dumps(facts, sort_keys=True)), **arrays)
    write_bytes_atomic(path, buf.getvalue())
    return Path(path)


def load_examples(path: str | os.PathLike) -> tuple[NumberData, NumberData, dict]:
    """The (train, valid, facts) that ``save_examples`` wrote to ``path``."""
    with np.load(path) as z:
        parts = [NumberData(*(z[f"{part}_{name}"] for name in NumberData._fields)) for part in ("train", "valid")]
        return parts[0], parts[1], json.loads(str(z["facts"]))


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Index batches whose rows all have one length (no padding at all); shuffled within and across when ``rng``."""
    order = np.argsort(lengths, kind="stable")
    if rng is not None:
        order = order[np.lexsort((rng.random(len(order)), lengths[order]))]
    bounds = np.flatnonzero(np.diff(lengths[order])) + 1
    batches = [b[i: i + batch_size] for b in np.split(order, bounds) for i in range(0, len(b), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def predict_proba(model: NumberClassifier, data: NumberData, *, batch_size: int = 512) -> np.ndarray:
    """P(pl | prefix) for every example -> float64 [N] (eval mode; training mode restored)."""
    device = next(model.parameters()).device
    out = np.zeros(len(data.labels))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b in length_batches(data.lengths, batch_size):
                ids = torch.as_tensor(data.ids[b, : int(data.lengths[b[0]])], device=device)
                out[b] = torch.softmax(model(ids).float(), -1)[:, 1].double().cpu().numpy()
    finally:
        model.train(was)
    return out


def _loss_accuracy(model: NumberClassifier, data: NumberData) -> tuple[float, float]:
    p = np.clip(predict_proba(model, data), 1e-12, 1 - 1e-12)
    y = data.labels
    loss = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return loss, float(((p > 0.5) == (y == 1)).mean())


# ---------------------------------------------------------------------------------------------------
# Training


def fit_classifier(cfg: NumberConfig, vocab: Vocab, train: NumberData, valid: NumberData, *,
                   progress: bool = False) -> tuple[NumberClassifier, list[dict], dict]:
    """Train a classifier on ``train``; return (the best model by validation accuracy, metric rows, best row)."""
    from tqdm.auto import tqdm

    device = torch.device(resolve_device(cfg.device))
    torch.manual_seed(cfg.seed)
    model = NumberClassifier(classifier_config_for(cfg, len(vocab))).to(device)
    opt = (torch.optim.Adam(model.parameters(), lr=cfg.lr) if cfg.optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=cfg.lr))
    rng = np.random.default_rng([cfg.seed, 11])
    rows: list[dict] = []
    best, best_state, step = None, None, 0
    ids_all, labels_all = torch.as_tensor(train.ids), torch.as_tensor(train.labels)
    bar = tqdm(total=cfg.epochs, desc=f"number {cfg.arch}{'-bi' if cfg.bidirectional else ''}", unit="epoch",
               disable=None if progress else True)
    for epoch in range(cfg.epochs):
        model.train()
        total, count = 0.0, 0
        for b in length_batches(train.lengths, cfg.batch_size, rng):
            idx = torch.as_tensor(b)
            x = ids_all[idx, : int(train.lengths[b[0]])].to(device)
            y = labels_all[idx].to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip if cfg.clip > 0 else float("inf"))
            step += 1
            if not (torch.isfinite(loss) and torch.isfinite(norm)):
                continue    # a non-finite step is skipped (counted in the epoch row)
            opt.step()
            total += float(loss.detach()) * len(b)
            count += len(b)
        valid_loss, valid_acc = _loss_accuracy(model, valid)
        row = {"kind": "eval", "epoch": epoch + 1, "step": step, "train_loss": total / max(count, 1),
               "skipped_examples": int(len(train.labels) - count), "valid_loss": valid_loss,
               "valid_accuracy": valid_acc}
        row["best"] = best is None or (valid_acc, -valid_loss) > (best["valid_accuracy"], -best["valid_loss"])
        if row["best"]:
            best = row
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        rows.append(row)
        bar.update(1)
        bar.set_postfix(valid_acc=f"{valid_acc:.3f}", refresh=False)
    bar.close()
    model.load_state_dict(best_state)
    return model.eval(), rows, best


def homogeneous_class(items: pd.DataFrame) -> np.ndarray:
    """Per prepared item: 'none' (no attractor), 'matched' (all attractors of the head's number), 'conflict' (all
    of the other number: Linzen et al.'s k-attractor items) or 'mixed' (both numbers: left out of their tables)."""
    from probe.metrics import pure_classes

    pure = pure_classes(items)
    match = items["match"].to_numpy(str)
    return np.where(pure != "", pure, np.where(match == "none", "none", "mixed")).astype(object)


def item_correctness(model: NumberClassifier, test: pd.DataFrame, data: NumberData) -> pd.DataFrame:
    """Per-item correctness of ``model`` on prepared test items (``match``: their homogeneous class)."""
    correct = (predict_proba(model, data) > 0.5) == (data.labels == 1)
    return pd.DataFrame({"n_attractors": test["n_attractors"].to_numpy(), "match": homogeneous_class(test),
                         "construction": test["construction"].to_numpy(), "correct": correct})


def load_test_items(items: str | os.PathLike, *, constructions: Sequence[str] = ()) -> pd.DataFrame:
    """An item dataset's test items (its ``test`` split, or all items if it has none), prepared for scoring."""
    from probe.data.items import load_items, prepare_items

    df = prepare_items(load_items(items))
    if constructions:
        df = df[df["construction"].isin(list(constructions))]
    if "split" in df.columns and (df["split"] == "test").any():
        df = df[df["split"] == "test"]
    if not len(df):
        raise ProbeError(f"{items} has no test items{' of ' + ', '.join(constructions) if constructions else ''}; "
                         "build items with a test split (`probe build --splits 0.8 0.1 0.1`)")
    return df.reset_index(drop=True)


def train_number(cfg: NumberConfig, *, out: str | os.PathLike, corpus: str | os.PathLike | None = None,
                 items: str | os.PathLike | None = None, overwrite: bool = False, progress: bool = True,
                 examples: tuple[NumberData, NumberData, dict] | None = None, vocab: Vocab | None = None) -> dict:
    """Train one number classifier into ``out``; return its summary.

    ``out`` gets model.pt (the best epoch by validation accuracy; the checkpoint format of
    ``probe.models.save_checkpoint``, with ``train_state["objective"] == "number"``), config.json,
    metrics.jsonl and summary.json, all at once (nothing appears unless training finished).
    ``corpus``: the synthetic corpus folder (vocabulary; with ``data='grammar'`` also the sentences);
    ``items``: item data: the test set (its ``test`` split), and with ``data='items'`` also train/valid.
    ``examples``/``vocab``: precomputed (train, valid, facts) and vocabulary (analyses share them).
    """
    from probe.models.checkpoint import save_checkpoint

    check_number_config(cfg)
    check_output_dir(out, overwrite)
    t0 = time.perf_counter()
    if vocab is None:
        if corpus is not None:
            vocab = load_corpus(corpus).vocab
        elif items is not None:
            vocab = _items_vocab(items)
        else:
            raise ProbeError("give --corpus DIR (vocabulary and, with data 'grammar', the sentences) or --items DIR")
    test = load_test_items(items) if items is not None else None
    if examples is None:
        if cfg.data == "grammar":
            if corpus is None:
                raise ProbeError("number training on the grammar's sentences needs --corpus DIR (a synthetic corpus)")
            exclude = set(test["prefix"].astype(str)) if test is not None else set()
            examples = grammar_examples(corpus, vocab, n_sentences=cfg.n_sentences, valid_fraction=cfg.valid_fraction,
                                        seed=cfg.seed, exclude_prefixes=exclude)
        else:
            examples = _item_training_examples(items, vocab)
    train, valid, facts = examples
    model, rows, best = fit_classifier(cfg, vocab, train, valid, progress=progress)
    summary = {"objective": OBJECTIVE, "arch": cfg.arch, "bidirectional": cfg.bidirectional, "seed": cfg.seed,
               "best_epoch": best["epoch"], "valid_accuracy": best["valid_accuracy"], **facts}
    if test is not None:
        data, in_vocab = item_examples(test, vocab)
        res = item_correctness(model, test, data)[in_vocab]
        summary["test_items"] = int(len(res))
        summary["test_accuracy"] = float(res["correct"].mean()) if len(res) else float("nan")
        summary["test_accuracy_by_attractors"] = {
            int(k): float(v) for k, v in res[res["match"].isin(["none", "conflict"])]
            .groupby("n_attractors")["correct"].mean().items()}
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    mcfg = classifier_config_for(cfg, len(vocab))
    with atomic_dir(out, overwrite) as tmp:
        save_checkpoint(tmp / "model.pt", model=model, model_config=mcfg, vocab=vocab, train_config=config_to_dict(cfg),
                        train_state={"objective": OBJECTIVE, "epoch": best["epoch"],
                                     "valid_accuracy": best["valid_accuracy"]})
        save_config({"train": config_to_dict(cfg), "model": config_to_dict(mcfg),
                     "corpus": str(corpus) if corpus is not None else None,
                     "items": str(items) if items is not None else None, "objective": OBJECTIVE}, tmp)
        write_text_atomic(tmp / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        write_text_atomic(tmp / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    summary["out"] = str(out)
    return summary


def _items_vocab(items: str | os.PathLike) -> Vocab:
    from probe.data.items import load_items

    ds = load_items(items)
    words = sorted({w for p in ds["prefix"] for w in str(p).split()} - {UNK, EOS})
    return Vocab((UNK, EOS, *words))


def _item_training_examples(items: str | os.PathLike | None, vocab: Vocab) -> tuple[NumberData, NumberData, dict]:
    """The train and valid splits of an item dataset as examples."""
    from probe.data.items import load_items, prepare_items

    if items is None:
        raise ProbeError("number training on items needs --items DIR with train/valid splits")
    df = prepare_items(load_items(items))
    parts = {}
    for split in ("train", "valid"):
        sub = df[df["split"] == split].reset_index(drop=True)
        if not len(sub):
            raise ProbeError(f"{items} has no {split} items; build them with `probe build --splits 0.8 0.1 0.1`")
        parts[split] = item_examples(sub, vocab)[0]
    facts = {"items": str(items), "examples_train": int(len(parts["train"].labels)),
             "examples_valid": int(len(parts["valid"].labels)),
             "train_attracted_share": float(parts["train"].attracted.mean())}
    return parts["train"], parts["valid"], facts


def train_number_from_config(cfg: NumberConfig, *, out: str | os.PathLike, corpus: str | os.PathLike | None = None,
                             items: str | os.PathLike | None = None, resume: bool = False, overwrite: bool = False,
                             progress: bool = True) -> dict:
    """`probe train --objective number`: train ``cfg``'s classifier and return its summary.

    With ``corpus`` the classifier trains on the corpus' own sentences (data 'grammar') and ``items``
    (optional) is the test set; with ``items`` alone it trains on their train split (data 'items').
    """
    if resume:
        raise ProbeError("--resume applies to language models; number classifiers train in seconds: rerun "
                         "without --resume (and with --overwrite)")
    if corpus is None and items is None:
        raise ProbeError("give --corpus DIR (a synthetic corpus: trains on its sentences) and/or --items DIR "
                         "(test items; alone: trains on their train split)")
    cfg = dataclasses.replace(cfg, data="grammar" if corpus is not None else "items")
    return train_number(cfg, out=out, corpus=corpus, items=items, overwrite=overwrite, progress=progress)
