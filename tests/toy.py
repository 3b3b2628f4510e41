"""Toys for tests: an agreement language as token ids ('the N (near the N) V <eos>'), a tiny GPT-2 built offline."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from probe.data.corpus import Vocab, write_ids
from probe.models.checkpoint import read_checkpoint


def agreement_stream(n_sentences: int, seed: int, *, words: Sequence[str], verbs: Sequence[str] = ("run", "sleep"),
                     modifier_rate: float = 0.4) -> np.ndarray:
    """Ids (vocabulary ``<unk> <eos> *words``) of sentences whose verb agrees with the first noun; a share
    ``modifier_rate`` of subjects carry 'near the N' with a noun of random number -> uint16 [tokens]."""
    rng = np.random.default_rng(seed)
    vocab = Vocab(("<unk>", "<eos>", *words))
    ids: list[int] = []
    for _ in range(n_sentences):
        plural = rng.random() < 0.5
        sentence = ["the", ["dog", "cat"][rng.integers(2)] + ("s" if plural else "")]
        if rng.random() < modifier_rate:
            sentence += ["near", "the", ["dog", "cat"][rng.integers(2)] + ("s" if rng.random() < 0.5 else "")]
        # a single verb draws nothing, so each caller's stream stays what it was
        verb = verbs[rng.integers(len(verbs))] if len(verbs) > 1 else verbs[0]
        ids += vocab.encode(sentence + [verb if plural else verb + "s"]) + [vocab.eos_id]
    return np.asarray(ids, dtype=np.uint16)


def write_toy_corpus(folder: Path, splits: Mapping[str, tuple[int, int]], *, words: Sequence[str],
                     **stream_options) -> Path:
    """A corpus folder as ``probe corpus`` writes one (vocab.json, SPLIT.npy): {split: (sentences, seed)}."""
    folder.mkdir(parents=True, exist_ok=True)
    Vocab(("<unk>", "<eos>", *words)).save(folder / "vocab.json")
    for split, (n, seed) in splits.items():
        write_ids(folder / f"{split}.npy", agreement_stream(n, seed, words=words, **stream_options))
    return folder


# Merges that make 'Ġis', 'Ġdog', 'Ġdogs', 'Ġthe' single tokens; 'are', 'run', 'cats' stay in pieces.
GPT2_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "i"), ("Ġi", "s"), ("Ġ", "d"), ("o", "g"),
               ("Ġd", "og"), ("Ġdog", "s"), ("Ġ", "r"), ("u", "n")]


def save_tiny_gpt2(out: Path) -> Path:
    """A randomly initialised 2-layer GPT-2 and a hand-made byte-level BPE tokenizer (``GPT2_MERGES``; bos =
    eos = '<|endoftext|>'), saved with save_pretrained into ``out``; needs transformers and tokenizers."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    for a, b in GPT2_MERGES:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tk = Tokenizer(models.BPE(vocab, GPT2_MERGES))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|endoftext|>",
                                               eos_token="<|endoftext|>")
    torch.manual_seed(0)
    # a large init spread makes the random model's distributions peaked, so scores differ visibly
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=128, vocab_size=len(vocab),
                                  initializer_range=0.3, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def assert_same_weights(a: Path, b: Path):
    """Two checkpoints' weights are bit-identical: only for two runs of the same computation path on one machine
    (a rerun, a resume, the same job through another executor), never for two different paths."""
    sa, sb = read_checkpoint(a)["state_dict"], read_checkpoint(b)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
