"""Generator invariants per construction: agreement, one differing token, balance, determinism, no duplicates."""
import json
from collections import Counter

import pytest

from probe.data.build import BuildConfig, build_dataset, build_items, cells_for
from probe.data.items import jsonl_lines, load_items
from probe.core.errors import ProbeError
from probe.data.constructions import CONSTRUCTIONS
from probe.data.lexicon import default_lexicon_path, load_lexicon
from probe.data.records import ITEM_COLUMNS, ITEM_FEATURES

LEX = load_lexicon()
LEX_LINES = default_lexicon_path().read_text().splitlines()


@pytest.fixture(scope="module")
def items():
    return build_items(BuildConfig(per_condition=12, seed=3))


@pytest.fixture(scope="module")
def nonce_items():
    return build_items(BuildConfig(per_condition=6, seed=3, nonce=True))


def test_every_construction_and_condition_present(items):
    cons = Counter(r["construction"] for r in items)
    assert set(cons) == set(CONSTRUCTIONS)
    conds = {r["condition"] for r in items if r["construction"] == "pp"}
    # 1-4 attractors, every number configuration: 4 + 8 + 16 + 32
    assert len(conds) == 60
    assert {r["n_attractors"] for r in items if r["construction"] == "pp"} == {1, 2, 3, 4}


@pytest.mark.parametrize("fixture", ["items", "nonce_items"])
def test_agreement_and_single_differing_token(fixture, request):
    for r in request.getfixturevalue(fixture):
        good, bad = r["sentence_good"].split(), r["sentence_bad"].split()
        diff = [i for i, (a, b) in enumerate(zip(good, bad)) if a != b]
        assert len(good) == len(bad) and diff == [r["verb_index"]], r["id"]
        assert r["prefix"].split() == good[: r["verb_index"]]
        assert good[r["verb_index"]] == r["verb_good"] and bad[r["verb_index"]] == r["verb_bad"]
        assert LEX.noun_number[r["head"]] == r["head_number"]
        assert LEX.verb_number[r["verb_good"]] == r["head_number"] != LEX.verb_number[r["verb_bad"]]
        assert good[r["head_index"]] == r["head"]
        assert r["distance"] == r["verb_index"] - r["head_index"] - 1
        for a, n, i in zip(r["attractors"], r["attractor_numbers"], r["attractor_indices"]):
            assert good[i] == a and LEX.noun_number[a] == n and i < r["verb_index"]
        code = "".join("S" if n == "sg" else "P" for n in [r["head_number"], *r["attractor_numbers"]])
        assert code == r["condition"]
        assert r["sentence_good"] == r["sentence_good"].lower()


def test_sequential_number_is_the_nearest_noun(items):
    for r in items:
        positions = dict(zip(r["attractor_indices"], r["attractor_numbers"]))
        positions[r["head_index"]] = r["head_number"]
        assert r["nearest_number"] == positions[max(positions)]
    src = next(r for r in items if r["construction"] == "src" and r["condition"] == "SP")
    assert src["nearest_number"] == "pl"  # 'the author that likes the guards ...': guards is nearest
    within = next(r for r in items if r["construction"] == "within_orc" and r["condition"] == "SP")
    assert within["nearest_number"] == "sg"  # the head itself is next to the verb


def test_pp_attractors_lie_between_head_and_verb(items):
    for r in items:
        if r["construction"] in ("pp", "src", "orc", "orc_nothat", "vp_coord_long"):
            assert all(r["head_index"] < i < r["verb_index"] for i in r["attractor_indices"])
        if r["construction"] in ("within_orc", "sent_comp"):
            assert all(i < r["head_index"] for i in r["attractor_indices"])


def test_balanced_cells_and_verb_types(items):
    cells = Counter((r["construction"], r["condition"], r["distance"] if r["construction"] == "control" else 0)
                    for r in items)
    assert set(cells.values()) == {12}
    types = Counter(r["verb_type"] for r in items if r["construction"] == "simple" and r["condition"] == "S")
    assert types == {"copula": 4, "intransitive": 4, "transitive": 4}
    assert {r["verb_type"] for r in items if r["construction"] == "within_orc"} == {"transitive"}


def test_control_matches_the_distances_of_attractor_constructions(items):
    dist = {r["distance"] for r in items if r["construction"] == "control"}
    pp_dist = {r["distance"] for r in items if r["construction"] in ("pp", "src", "orc", "orc_nothat")}
    assert dist == pp_dist == {3, 4, 6, 9, 12}
    assert all(r["n_attractors"] == 0 for r in items if r["construction"] == "control")


def test_no_duplicates_and_stable_ids(items):
    assert len({r["sentence_good"] for r in items}) == len(items)
    assert len({r["id"] for r in items}) == len(items)


def test_nonce_items_break_semantic_constraints(nonce_items):
    heads = {r["head"] for r in nonce_items}
    inanimate = {n.sg for n in LEX.inanimate_nouns} | {n.pl for n in LEX.inanimate_nouns}
    assert heads & inanimate, "nonce heads should include inanimate nouns"
    assert all(r["nonce"] for r in nonce_items) and all(".nonce." in r["id"] for r in nonce_items)


def test_same_seed_same_items_other_seed_other_items():
    a = build_items(BuildConfig(per_condition=3, seed=7))
    b = build_items(BuildConfig(per_condition=3, seed=7))
    c = build_items(BuildConfig(per_condition=3, seed=8))
    assert a == b and a != c


def test_size_is_spread_evenly_over_cells():
    cfg = BuildConfig(size=1000, constructions=("simple", "src"))
    rows = build_items(cfg)
    assert len(rows) == 1000 and len(cells_for(cfg)) == 6
    assert set(Counter((r["construction"], r["condition"]) for r in rows).values()) == {166, 167}


def test_max_attractors_limits_pp_and_control():
    rows = build_items(BuildConfig(per_condition=2, max_attractors=2, constructions=("pp", "control")))
    assert max(r["n_attractors"] for r in rows) == 2
    assert {r["distance"] for r in rows if r["construction"] == "control"} == {3, 4, 6}


def test_splits_are_assigned_by_id():
    rows = build_items(BuildConfig(per_condition=40, constructions=("pp",), splits=(0.8, 0.1, 0.1)))
    share = Counter(r["split"] for r in rows)
    assert 0.7 < share["train"] / len(rows) < 0.9 and share["valid"] and share["test"]


@pytest.mark.parametrize("options, message", [
    (dict(constructions=("nope",)), "unknown construction 'nope'"),
    (dict(max_attractors=5), "BuildConfig.max_attractors must be an integer from 1 to 4, got 5"),
    (dict(splits=(0.5, 0.1, 0.1)), "summing to 1"),
])
def test_bad_configs(options, message):
    with pytest.raises(ProbeError, match=message):
        build_items(BuildConfig(**options))


TINY = """noun\tauthor\tauthors\tanimate
noun\tpilot\tpilots\tanimate
noun\tbook\tbooks\tinanimate
verb\tlaughs\tlaugh\tintransitive
verb\tlikes\tlike\ttransitive,obj=any
copula\tis\tare\ttense=present
cverb\tsaid\t-\t-
adj\thappy\t-\tanimate
prep\tof\t-\t-
comp\tthat\t-\t-
adv\toften\t-\t-
det\tthe\t-\t-
"""


def test_too_small_lexicon_for_size(tmp_path):
    (tmp_path / "tiny.tsv").write_text(TINY)
    cfg = BuildConfig(per_condition=50, constructions=("simple",), lexicon=str(tmp_path / "tiny.tsv"))
    with pytest.raises(ProbeError, match="only .* distinct items found for the 50 asked"):
        build_items(cfg)


def test_hand_formatted_jsonl_equals_json_dumps(items):
    tuples = [tuple(r[k] for k in ITEM_COLUMNS) for r in items[:300]]
    lines = jsonl_lines(tuples).splitlines()
    assert lines == [json.dumps(r, ensure_ascii=False) for r in items[:300]]


def test_build_dataset_writes_loadable_folder_and_is_byte_identical(tmp_path):
    import datasets

    cfg = BuildConfig(per_condition=2, seed=5)
    build_dataset(cfg, out=tmp_path / "a", workers=1)
    build_dataset(cfg, out=tmp_path / "b", workers=2)
    a, b = (tmp_path / "a" / "items.jsonl").read_bytes(), (tmp_path / "b" / "items.jsonl").read_bytes()
    assert a == b
    ds = datasets.load_from_disk(str(tmp_path / "a" / "arrow"))
    assert len(ds) == len(a.splitlines()) and ds.column_names == list(ITEM_COLUMNS)
    assert ds[0] == json.loads(a.splitlines()[0])
    card = (tmp_path / "a" / "README.md").read_text()
    assert "| pp |" in card and "S@d3 2" in card
    assert card == (tmp_path / "b" / "README.md").read_text()     # the card does not depend on the workers
    assert json.loads((tmp_path / "a" / "config.json").read_text())["seed"] == 5


@pytest.mark.parametrize("splits, hub_split", [((0.0, 0.0, 1.0), "test"), ((0.5, 0.0, 0.5), "items")])
def test_built_folder_loads_with_load_dataset_through_its_card(tmp_path, splits, hub_split):
    """README.md is a Hugging Face dataset card: load_dataset(DIR) reads items.jsonl with ITEM_FEATURES."""
    import datasets
    import huggingface_hub
    import yaml

    out = tmp_path / "bench"
    build_dataset(BuildConfig(per_condition=1, seed=2, constructions=("simple", "pp", "control"), splits=splits),
                  out=out, workers=1)
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))   # offline (conftest)
    assert list(loaded) == [hub_split]
    rows = loaded[hub_split]
    lines = (out / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert rows.features == ITEM_FEATURES and len(rows) == len(lines)
    assert rows.to_list() == [json.loads(line) for line in lines]
    assert rows.to_list() == load_items(out).to_list()          # the Arrow copy holds the same rows
    assert len(set(rows["split"])) == (2 if hub_split == "items" else 1)
    text = (out / "README.md").read_text(encoding="utf-8")
    head, body = text.split("---\n")[1:3]
    meta = yaml.safe_load(head)
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": hub_split, "path": "items.jsonl"}]}]
    assert meta["dataset_info"]["splits"][0]["num_examples"] == len(lines)
    card = huggingface_hub.DatasetCard.load(out / "README.md")      # the Hub's own parser
    assert card.data.license == "mit" and card.data.pretty_name == "probe agreement benchmark"
    assert card.data.task_categories == ["text-classification"] and card.data.language == ["en"]
    assert "| pp |" in body and "S@d3 1" in body and "@software{" in body   # counts and citation below the YAML


def test_build_dataset_refuses_non_empty_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(ProbeError, match="--overwrite"):
        build_dataset(BuildConfig(per_condition=1), out=tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "x"


# Which noun is the object of the relative clause's verb, from each construction's slot diagram:
# orc 'the HEAD (that) the A1 VT(A1) VERB': VT is the token before the target and its object is the head;
# within_orc 'the A1 (that) the HEAD VT(HEAD)': VT is the target and its object is the main subject (A1).
ORC_VERB_AND_OBJECT = {
    "orc": lambda r: (r["verb_index"] - 1, r["head"]),
    "orc_nothat": lambda r: (r["verb_index"] - 1, r["head"]),
    "within_orc": lambda r: (r["verb_index"], r["attractors"][0]),
    "within_orc_nothat": lambda r: (r["verb_index"], r["attractors"][0]),
}


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_object_relative_verbs_select_their_object(seed):
    # 'the salesman that the prisoner carries' is out: carries takes inanimate objects (obj=inanimate)
    verb_of = {f: v for v in LEX.transitive_verbs for f in (v.sg, v.pl)}
    noun_of = {f: n for n in LEX.nouns for f in (n.sg, n.pl)}
    rows = build_items(BuildConfig(per_condition=8, seed=seed, constructions=tuple(ORC_VERB_AND_OBJECT)))
    assert {r["construction"] for r in rows} == set(ORC_VERB_AND_OBJECT)
    for r in rows:
        i, obj = ORC_VERB_AND_OBJECT[r["construction"]](r)
        verb, noun = verb_of[r["sentence_good"].split()[i]], noun_of[obj]
        assert verb.obj in ("any", "animate" if noun.animate else "inanimate"), r["sentence_good"]


def test_object_relative_needs_a_verb_taking_the_head(tmp_path):
    text = "".join(line + "\n" for line in LEX_LINES if not line.startswith("verb\t")
                   or "intransitive" in line or "obj=inanimate" in line)
    p = tmp_path / "lex.tsv"
    p.write_text(text)
    with pytest.raises(ProbeError, match="no transitive verb taking an animate object"):
        build_items(BuildConfig(per_condition=1, constructions=("orc",)), lexicon=load_lexicon(p))
    build_items(BuildConfig(per_condition=1, constructions=("src",)), lexicon=load_lexicon(p))
