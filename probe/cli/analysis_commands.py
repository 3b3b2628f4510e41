"""The analyses' commands: ``probe analyze NAME`` and, for each built-in analysis, ``probe NAME`` as its alias.

Every flag past the inputs (--model, --corpus, --items, --out, --preset) is generated from the fields of the
analysis' config dataclass and their comments (probe.cli.options), so an option is declared once, in the config.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
from pathlib import Path
import sys

from probe.analyses import BUILTIN
from probe.cli.common import Parser, command, positive_int, summary_of


def analysis_parser(name: str, prog: str) -> tuple[argparse.ArgumentParser, object, list[str]]:
    """The argument parser of analysis ``name``: its inputs, ``--preset`` and one flag per config field
    -> (parser, registry entry, field names)."""
    from probe.analyses.base import INPUT_FLAGS, get_analysis
    from probe.cli.options import add_config_options

    analysis = get_analysis(name)
    # the analysis module's one-line summary (its docstring's first line) says what it measures
    module = sys.modules.get(analysis.run.__module__)
    what = (inspect.getdoc(module) or analysis.title).split("\n")[0] if module else analysis.title
    needs = ", ".join(INPUT_FLAGS[k] for k in analysis.needs) or "nothing but --out"
    q = Parser(prog=prog, description=f"{what} Needs {needs}.")
    q.add_argument("--model", action="extend", nargs="+", default=[], metavar="DIR",
                   help="trained language models (training folders or model.pt files): several after one flag, or "
                        "the flag repeated")
    q.add_argument("--corpus", action="extend", nargs="+", default=[], metavar="DIR",
                   help="the models' corpus folder(s) (`probe corpus`); the attractor rate is read from each")
    q.add_argument("--items", metavar="DIR", help="the benchmark items (`probe build` folder or .jsonl)")
    q.add_argument("--out", required=True, metavar="DIR", help="results folder (files are replaced one by one)")
    q.add_argument("--preset", choices=tuple(analysis.presets), default="full",
                   help="size preset (default full); the options below override it")
    q.add_argument("--workers", type=positive_int, default=1, help="training processes (default 1)")
    q.add_argument("--no-progress", action="store_true", help="no progress bars")
    names = add_config_options(q.add_argument_group(f"{name} options ({analysis.config.__name__})"),
                               analysis.config, defaults=analysis.preset("full"))
    return q, analysis, names


def run_analysis_command(name: str, argv: list[str], prog: str) -> int:
    """Parse ``argv`` with analysis ``name``'s parser, run it, print its summary."""
    from probe.analyses.base import AnalysisInputs, describe_corpora, describe_models, run_analysis
    from probe.cli.options import apply_options

    q, analysis, names = analysis_parser(name, prog)
    b = q.parse_args(argv)
    cfg = apply_options(analysis.preset(b.preset), b, names)
    corpus_dirs = describe_corpora(b.corpus)
    inputs = AnalysisInputs(models=tuple(describe_models(b.model, corpus_dirs=corpus_dirs)), corpus_dirs=corpus_dirs,
                            items=b.items, out=b.out, workers=b.workers, progress=not b.no_progress)
    result = run_analysis(name, inputs, cfg)
    print(result.get("markdown", ""))
    print(f"wrote {len(result.get('files', []))} files to {b.out} in {result.get('seconds', 0):.1f} s")
    return 0


@command("run any registered analysis (flags from its config dataclass): probe analyze NAME --help")
def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help=summary_of("analyze"), add_help=False,
        description=f"Run a registered analysis (probe.analyses: {', '.join(BUILTIN)}, or one a user "
                    "registered, e.g. with probe --code FILE) on trained models, corpora and items, with a size "
                    "preset; every field "
                    "of the analysis' config is a flag that overrides the preset. `probe analyze NAME --help` "
                    "lists them.")

    def run(a: argparse.Namespace) -> int:
        from probe.analyses.base import load_analyses

        if not a.name:
            print(f"usage: probe analyze NAME [options] (NAME --help lists them); NAME: {', '.join(load_analyses())}")
            if a.rest and a.rest[0] in ("-h", "--help"):
                raise SystemExit(0)     # as argparse's own --help does
            return 2
        return run_analysis_command(a.name, a.rest, f"probe analyze {a.name}")

    p.set_defaults(func=run)


def _alias(name: str):
    """The command ``probe NAME`` = ``probe analyze NAME`` (its flags are parsed once the name is known)."""
    def add(sub: argparse._SubParsersAction) -> None:
        p = sub.add_parser(name, help=summary_of(name), add_help=False)
        p.set_defaults(func=lambda a: run_analysis_command(name, a.rest, f"probe {name}"))

    add.__name__ = f"_add_{name}"
    return add


def module_summary(module: str) -> str:
    """The first line of a module's docstring, read from its source without importing it (the analyses import
    torch; ``probe --help`` should not wait for it)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return module
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or module
    return doc.split("\n")[0].rstrip(".").replace("%", "%%")


# the built-in analyses are commands of their own too (`probe gradients`); registered ones: `probe analyze NAME`
ALIASES = BUILTIN
for _name in ALIASES:
    command(module_summary(f"probe.analyses.{_name}"))(_alias(_name))
