"""The ``ferbench`` command line: run | ls | results | leaderboard | validate | check |
submit | export | import."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time

from ferbench.errors import ConfigError, FerbenchError

log = logging.getLogger("ferbench")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) that name the bad option."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _seeds(text: str) -> tuple[int, ...]:
    """``--seeds 3`` means seeds 0,1,2; ``--seeds 0,4,7`` lists them explicitly."""
    try:
        if "," in text:
            return tuple(int(s) for s in text.split(",") if s.strip())
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count or a list like 0,1,2; got '{text}'") from None
    if n < 1:
        raise argparse.ArgumentTypeError("--seeds must be at least 1")
    return tuple(range(n))


def _ratios(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ratios takes numbers like 1,2,3; got '{text}'") from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError("--ratios must be positive numbers like 1,2,3")
    return tuple(int(v) if v.is_integer() else v for v in vals)


def _per_class(text: str):
    if text.lower() == "all":
        return "all"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--real-per-class takes a positive integer or 'all'; got '{text}'") from None
    if n < 1:
        raise argparse.ArgumentTypeError("--real-per-class must be a positive integer or 'all'")
    return n


def _param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param takes key=value; got '{text}'")
    k, v = text.split("=", 1)
    try:
        val = json.loads(v)
    except json.JSONDecodeError:
        val = v
    return k.strip(), val


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ferbench", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser,
                         help="run 'ferbench COMMAND -h' for its options")

    r = sub.add_parser("run", help="train a generator, make synthetic data, score it")
    r.add_argument("--generator", "-g", help="registered generator name (see 'ferbench ls generators')")
    r.add_argument("--protocol", "-p", default="mix", help="built-in protocol name or a YAML path (default: mix)")
    r.add_argument("--dataset", help="dataset name (default: the protocol's, toyfaces)")
    r.add_argument("--data-root", help="path to the dataset on disk (not needed for toyfaces)")
    r.add_argument("--test-dataset", help="cross-dataset evaluation: test on this dataset's test split")
    r.add_argument("--test-data-root", help="path of --test-dataset")
    r.add_argument("--budget", "-b", choices=("smoke", "quick", "full"),
                   help="compute budget (default: the protocol's, usually quick); smoke is for "
                   "tests, full for a GPU")
    r.add_argument("--seeds", type=_seeds, help="number of seeds (3 = 0,1,2) or a list 0,4,7")
    r.add_argument("--ratios", type=_ratios, help="synthetic:real ratios, e.g. 1,2,3")
    r.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if present)")
    r.add_argument("--real-per-class", type=_per_class, help="cap real training images per class, or 'all'")
    r.add_argument("--real-fraction", type=float, help="fraction of real training images (0,1]")
    r.add_argument("--resolution", type=int, help="image side in pixels (default 48)")
    r.add_argument("--channels", type=int, choices=(1, 3), help="1 grayscale, 3 RGB")
    r.add_argument("--classifier", help="noncomplex-cnn or resnet18")
    r.add_argument("--epochs", type=int, help="override the budget's classifier epochs")
    r.add_argument("--param", type=_param, action="append", default=[], metavar="KEY=VALUE",
                   help="generator hyper-parameter (repeatable)")
    r.add_argument("--data-option", type=_param, action="append", default=[],
                   metavar="KEY=VALUE", help="dataset adapter option (repeatable), e.g. "
                   "group_pattern='^(S\\d+)_' to split an imagefolder by person")
    r.add_argument("--store", help="results DuckDB file (default $FERBENCH_HOME/results.duckdb)")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument("--executor", choices=("in-process", "local", "slurm"), default="in-process", help="run cells here (default), as N local worker processes, or as SLURM jobs")
    r.add_argument("--jobs", type=int, default=2, help="--executor local: worker processes (default 2)")
    r.add_argument("--slurm-partition", help="--executor slurm: partition")
    r.add_argument("--slurm-time", type=int, default=60, metavar="MIN", help="--executor slurm: time limit per job, minutes (default 60)")
    r.add_argument("--slurm-gpus", type=int, default=1, help="--executor slurm: GPUs per job (default 1)")
    r.add_argument("--slurm-mem", type=float, metavar="GB", help="--executor slurm: memory per job")
    r.add_argument("--slurm-cpus", type=int, help="--executor slurm: CPUs per job")
    r.add_argument("--slurm-array-parallelism", type=int, default=32, metavar="M", help="--executor slurm: jobs of one array running at once (default 32)")

    ls = sub.add_parser("ls", help="list generators, protocols, datasets or classifiers")
    ls.add_argument("what", choices=("generators", "protocols", "datasets", "classifiers"),
                    help="what to list")

    res = sub.add_parser("results", help="print stored scores as tables; 'results export OUT' / "
                         "'results import IN' move results between machines")
    res.add_argument("action", nargs="?", choices=("export", "import"),
                     help="export stored results to a versioned JSON file, or import one")
    res.add_argument("path", nargs="?", help="the JSON file to export to or import from")
    res.add_argument("--protocol", help="only cells of this protocol name")
    res.add_argument("--dataset", help="only cells trained on this dataset")
    res.add_argument("--generator", help="only runs of this generator (the real-only baseline "
                                         "of its settings is kept; with export: only its "
                                         "results)")
    res.add_argument("--store", help="results DuckDB file (default $FERBENCH_HOME/results.duckdb)")
    res.add_argument("--json", nargs="?", const="-", metavar="PATH",
                     help="export the stored cells as JSON (to PATH, or stdout)")
    res.add_argument("--csv", nargs="?", const="-", metavar="PATH",
                     help="export the leaderboard rows (one per setting and generator) as CSV "
                          "(to PATH, or stdout)")

    lb = sub.add_parser("leaderboard", help="start the Streamlit leaderboard on a results store")
    lb.add_argument("--store", help="results DuckDB file (default $FERBENCH_HOME/results.duckdb)")
    lb.add_argument("--port", type=int, default=8501, help="HTTP port (default 8501)")
    lb.add_argument("--address", default="localhost",
                    help="address to listen on (default localhost)")

    v = sub.add_parser("validate", help="strictly parse a protocol YAML file")
    v.add_argument("protocol", help="a protocol name or YAML file")

    c = sub.add_parser("check", help="run the conformance suite on a registered generator")
    c.add_argument("generator", help="registered generator name")
    c.add_argument("--mix", action="store_true",
                   help="also run the smoke mix protocol end to end (about a minute)")

    s = sub.add_parser("submit", help="validate and store a folder/.zip/.tar(.gz) of images "
                       "with manifest.csv as a generator")
    s.add_argument("path", help="folder, .zip, .tar or .tar.gz holding images + manifest.csv")
    s.add_argument("--name", required=True, help="generator name the submission becomes")
    s.add_argument("--version", default="1", help="the submission's version (default 1)")
    s.add_argument("--license", default="unknown",
                   help="licence of the images, e.g. CC-BY-4.0 (default unknown)")
    s.add_argument("--url", default="", help="paper or project page")
    s.add_argument("--dataset", default="toyfaces",
                   help="dataset whose mix ratios to report (default toyfaces)")
    s.add_argument("--real-per-class", type=int,
                   help="real images per class to compute the allowed ratios for "
                        "(default: each budget's cap)")
    s.add_argument("--resolution", type=int, default=48,
                   help="protocol resolution the report checks the images against "
                   "(default 48)")
    s.add_argument("--channels", type=int, choices=(1, 3), default=1,
                   help="protocol channels for that report: 1 grayscale (default), 3 RGB")

    ex = sub.add_parser("export", help="write stored results (cells and pool results) as "
                        "versioned JSON")
    ex.add_argument("out", help="output .json file")
    ex.add_argument("--generator", action="append", default=[], help="only this generator "
                    "(repeatable)")
    ex.add_argument("--store", help="results store (default: $FERBENCH_HOME/results.duckdb)")
    im = sub.add_parser("import", help="merge an exported results file into the local store")
    im.add_argument("input", help="a file written by 'ferbench export'")
    im.add_argument("--store", help="results store to merge into (default: "
                    "$FERBENCH_HOME/results.duckdb)")
    a = sub.add_parser("assets", help="list the model files scores depend on (sha256, licence, "
                       "where); 'assets fetch NAME' puts an optional one in place, once")
    a.add_argument("action", nargs="?", choices=("list", "fetch"), default="list",
                   help="list (default): every asset with its sha256, licence and path; fetch: "
                   "put NAME in place")
    a.add_argument("name", nargs="?", help="asset to fetch (see 'ferbench assets')")
    a.add_argument("--wheel", help="fetch from this local wheel instead of the package index")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # -v turns on ferbench's own debug lines only: libraries' loggers (PIL alone writes a
    # line per PNG chunk) stay at INFO and above
    logging.basicConfig(level=logging.INFO, format="ferbench: %(message)s", stream=sys.stderr)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:  # data warnings as one line each, without source locations
        import warnings

        warnings.showwarning = lambda msg, cat, *a, **k: print(
            f"ferbench: warning: {msg}", file=sys.stderr)
    try:
        if args.command in ("run", "ls"):  # accepted folder submissions are generators too
            from ferbench.submit.folder_generator import register_submissions

            register_submissions()
        return {"run": cmd_run, "ls": cmd_ls, "results": _quiet_pipe(cmd_results),
                "validate": cmd_validate, "check": cmd_check, "submit": cmd_submit,
                "export": cmd_export, "import": cmd_import, "assets": cmd_assets,
                "leaderboard": cmd_leaderboard}[args.command](args)
    except KeyboardInterrupt:
        print("ferbench: interrupted; finished cells are stored, re-run the same command to "
              "resume", file=sys.stderr)
        return 130
    except FerbenchError as exc:
        print(f"ferbench: error: {exc}", file=sys.stderr)
        return 2


def _store(path):
    from ferbench.results.store import ResultStore, default_store_path

    return ResultStore(path or default_store_path())


def cmd_run(args) -> int:
    from ferbench.engine import Context, resolve_device, run_protocol
    from ferbench.engine.executors import make_executor
    from ferbench.protocol import load_protocol
    from ferbench.results.query import summarize
    from ferbench.results.report import format_summary

    t0 = time.monotonic()
    spec = load_protocol(args.protocol)
    spec = spec.override(
        dataset=args.dataset, data_root=args.data_root, test_dataset=args.test_dataset,
        test_data_root=args.test_data_root, budget=args.budget, seeds=args.seeds,
        ratios=args.ratios if spec.mode != "real" else None, real_per_class=args.real_per_class,
        real_fraction=args.real_fraction, resolution=args.resolution, channels=args.channels,
        classifier=args.classifier, epochs=args.epochs,
        data_options={**spec.data_options, **dict(args.data_option)} or None,
    )
    if args.ratios and spec.mode == "real":
        raise ConfigError("--ratios does not apply to protocol mode 'real'")
    _check_names(spec)
    if spec.needs_generator and not args.generator:
        raise ConfigError(f"protocol '{spec.name}' needs --generator "
                          "(see 'ferbench ls generators')")
    if spec.needs_generator:  # fail fast on a bad name or parameter, before any work
        _check_generator(args.generator, dict(args.param))
    ctx = Context(device=resolve_device(args.device), progress=not args.no_progress)
    store = _store(args.store)
    log.info("protocol %s v%d (%s) on %s, budget %s, seeds %s, device %s", spec.name,
             spec.version, spec.mode, spec.dataset, spec.budget, list(spec.seeds), ctx.device)
    outcome = run_protocol(spec, args.generator, dict(args.param), store, ctx,
                           executor=make_executor(args))
    if spec.mode == "fidelity":
        from ferbench.results.report import format_pool_results

        if args.json:
            print(json.dumps(outcome.pool_records, indent=2, default=str))
        else:
            print(format_pool_results(outcome.pool_records,
                                      title=f"{spec.name} v{spec.version} on {spec.dataset} "
                                      f"({spec.budget}, generator {args.generator})"))
        _run_footer(outcome, store, t0)
        return 0
    summary = summarize(outcome.records)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        gen = f", generator {args.generator}" if spec.needs_generator else ""
        test = spec.test_dataset or spec.dataset
        print(format_summary(summary, title=f"{spec.name} v{spec.version} on {spec.dataset}"
                             f" (test {test}/{spec.test_split}; {spec.budget}{gen})"))
        if spec.dataset == "toyfaces":
            print("note: toyfaces is a smoke test of the pipeline, not a FER result")
    _run_footer(outcome, store, t0)
    return 0


def _run_footer(outcome, store, t0: float) -> None:
    """Where the results went, the wall time, and how to browse them (stderr, so that
    ``--json`` output stays parseable)."""
    n = len(outcome.records) + len(outcome.pool_records)
    wall = _wall(time.monotonic() - t0)
    log.info("%d result(s) in %s (%d computed now, %d from earlier runs); wall time %s",
             n, store.path, outcome.ran, outcome.resumed, wall)
    log.info("browse them: ferbench leaderboard --store %s", shlex.quote(str(store.path)))


def _wall(secs: float) -> str:
    """``'3 min 50 s'`` for 229.9 s (whole minutes, then the rounded rest); ``'12.3 s'``
    under a minute."""
    if secs < 59.95:
        return f"{secs:.1f} s"
    minutes, rest = divmod(round(secs), 60)
    return f"{minutes} min {rest} s"


def _check_generator(name: str, params: dict) -> None:
    """Name and parameters checked against the class, without instantiating it."""
    import inspect

    from ferbench.api.generator import GENERATORS

    cls = GENERATORS.get(name)
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        raise ConfigError(f"generator '{name}': bad parameters {params}: {exc}") from None


def _check_names(spec) -> None:
    from pathlib import Path

    from ferbench.classify import CLASSIFIERS
    from ferbench.data.registry import get_adapter

    for name, root, flag in ((spec.dataset, spec.data_root, "--data-root"),
                             (spec.test_dataset, spec.test_data_root or
                              (spec.data_root if spec.test_dataset == spec.dataset else None),
                              "--test-data-root")):
        if not name:
            continue
        adapter = get_adapter(name)
        if adapter.needs_root and not root:
            raise ConfigError(f"dataset '{name}' is read from disk: pass {flag} PATH")
        if root and not Path(root).expanduser().exists():
            raise ConfigError(f"{flag}: path not found: {root}")
    if spec.classifier not in CLASSIFIERS:
        from ferbench.registry import did_you_mean

        raise ConfigError(f"unknown classifier '{spec.classifier}'"
                          f"{did_you_mean(spec.classifier, CLASSIFIERS)}; "
                          f"available: {', '.join(CLASSIFIERS.names())}")


def cmd_ls(args) -> int:
    if args.what == "generators":
        from ferbench.api import generator_class, generator_distribution, generator_names

        for name in generator_names():
            m = generator_class(name).meta
            print(f"{name:<16} v{m.version:<6} {m.family:<10} cond={'+'.join(m.conditioning):<10}"
                  f" licence={m.license:<12} [{generator_distribution(name)}] {m.description}")
    elif args.what == "protocols":
        from ferbench.protocol import builtin_protocols, load_protocol

        for name in sorted(builtin_protocols()):  # entry-point protocols included
            s = load_protocol(name)
            print(f"{name:<12} v{s.version}  mode={s.mode:<10} {s.description}")
    elif args.what == "datasets":
        from ferbench.data.registry import list_datasets

        for name, ad in sorted(list_datasets().items()):
            root = "needs --data-root" if ad.needs_root else "built in"
            ncls = f"{len(ad.classes)} classes" if ad.classes else "classes from data"
            print(f"{name:<12} {ncls:<17}  {root:<18} {ad.description}")
    else:
        from ferbench.classify import CLASSIFIERS

        for name in CLASSIFIERS.names():
            print(name)
    return 0


def _quiet_pipe(fn):
    """Wrap a printing command so that ``ferbench results | head`` ends quietly: a closed
    stdout is not an error (Python would otherwise print a traceback and a second error at
    interpreter exit)."""
    import functools
    import os

    @functools.wraps(fn)
    def wrapped(args) -> int:
        try:
            rc = fn(args)
            sys.stdout.flush()
            return rc
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
    return wrapped


def _nothing_matches(store, filters: dict, generator: str | None) -> str:
    """The message for a filter that matches no cell: what exists, and did-you-mean."""
    import difflib

    rows = store.cells()
    lines = ["no stored cells match " + ", ".join(
        f"{k}={v}" for k, v in {**filters, "generator": generator}.items() if v is not None)]
    for key in ("protocol", "dataset", "generator"):
        have = sorted({str(r[key]) for r in rows if r.get(key) is not None})
        want = filters.get(key) if key != "generator" else generator
        hint = ""
        if want is not None and want not in have:
            close = difflib.get_close_matches(str(want), have, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
        lines.append(f"  {key}s stored: {', '.join(have) or '(none)'}{hint}")
    return "\n".join(lines)


def cmd_results(args) -> int:
    if getattr(args, "action", None):
        return _results_transfer(args)
    from ferbench.results.query import leaderboard, runs, summarize
    from ferbench.results.report import format_summary, leaderboard_csv

    store = _store(args.store)
    filters = {k: v for k, v in (("protocol", args.protocol), ("dataset", args.dataset))
               if v is not None}
    rows = store.cells(**filters)
    if args.generator:
        keep = {r["generator"] for r in rows} & {args.generator}
        rows = [r for r in rows if r["generator"] is None or r["generator"] in keep]
        if not keep:
            rows = []
    if not rows:
        if not len(store):
            print("no results stored yet; run 'ferbench run ...' first")
        else:
            print(_nothing_matches(store, filters, args.generator))
        return 0
    records = store.get_cells([r["cell_id"] for r in rows])
    if args.json is not None or args.csv is not None:
        text = (json.dumps(records, indent=2, default=str) if args.json is not None
                else leaderboard_csv(leaderboard(records)))
        dest = args.json if args.json is not None else args.csv
        if dest == "-":
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            with open(dest, "w") as fh:
                fh.write(text if text.endswith("\n") else text + "\n")
            log.info("wrote %d cells to %s", len(records), dest)
        return 0
    for header, recs in runs(records):
        gen = header.get("generator")
        if args.generator and gen != args.generator:
            continue
        title = (f"{header['protocol']} v{header['protocol_version']} on {header['dataset']} "
                 f"(test {header['test_dataset']}/{header['test_split']}), "
                 f"{header['classifier']}, budget {header['budget']}, "
                 f"real/class {header['real_per_class'] or 'all'}"
                 + (f", generator {gen}" if gen else ""))
        print(format_summary(summarize(recs), title=title))
        print()
    return 0


def leaderboard_command(store: str, port: int, address: str = "localhost") -> list[str]:
    """The ``streamlit run`` command line for the leaderboard: headless, no usage statistics,
    minimal toolbar (no Deploy button); the store path goes to the app as ``--store``."""
    from pathlib import Path

    import ferbench_leaderboard

    app = Path(ferbench_leaderboard.__file__).with_name("app.py")
    return [sys.executable, "-m", "streamlit", "run", str(app),
            "--server.headless", "true", "--server.port", str(port),
            "--server.address", address, "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "minimal", "--global.developmentMode", "false",
            "--", "--store", store]


def cmd_leaderboard(args) -> int:
    import importlib.util
    import os
    import subprocess

    from ferbench.results.store import default_store_path

    if importlib.util.find_spec("streamlit") is None:
        raise FerbenchError("the leaderboard needs streamlit: pip install 'ferbench[leaderboard]'")
    store = str(args.store or default_store_path())
    cmd = leaderboard_command(store, args.port, args.address)
    print(f"ferbench leaderboard on http://{args.address}:{args.port} (store {store})",
          file=sys.stderr)
    env = {**os.environ, "FERBENCH_STORE": store}
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


def cmd_validate(args) -> int:
    from ferbench.protocol import load_protocol

    spec = load_protocol(args.protocol)
    _check_names(spec)
    ratios = [r for r in spec.ratios if r != 0]
    n = len(spec.seeds) * (1 if spec.mode in ("real", "fidelity")
                           else len(ratios) + (spec.mode == "mix"))
    print(f"{args.protocol}: ok ({spec.name} v{spec.version}, mode {spec.mode}, {n} cells)")
    return 0


def cmd_check(args) -> int:
    from ferbench.api.conformance import iter_checks

    failed = 0
    for res in iter_checks(args.generator, mix=args.mix):
        print(res.line())
        failed += not res.ok
    if failed:
        print(f"{args.generator}: {failed} check(s) failed", file=sys.stderr)
        return 1
    print(f"{args.generator}: conforms to the ferbench generator contract")
    return 0


def cmd_submit(args) -> int:
    from ferbench.submit.folder_generator import register_submissions
    from ferbench.submit.store import report_lines, submit

    dest, info, written = submit(args.path, args.name, version=args.version,
                                 license=args.license, url=args.url)
    for line in report_lines(info, dataset=args.dataset, real_per_class=args.real_per_class,
                             resolution=args.resolution, channels=args.channels):
        print(line)
    register_submissions()
    print(f"{'stored' if written else 'already stored'}: {dest}; run it with "
          f"'ferbench run --generator {args.name} --protocol mix'")
    return 0


def _results_transfer(args) -> int:
    """``ferbench results export OUT`` / ``results import IN`` (same as export / import)."""
    if not args.path:
        raise ConfigError(f"ferbench results {args.action} needs a JSON file path")
    if args.action == "export":
        args.out = args.path
        args.generator = [args.generator] if args.generator else []
        return cmd_export(args)
    args.input = args.path
    return cmd_import(args)


def cmd_export(args) -> int:
    from ferbench.results.transfer import export_results

    doc = export_results(_store(args.store), args.out, args.generator or None)
    print(f"wrote {len(doc['cells'])} cells and {len(doc['pool_results'])} pool results "
          f"(schema {doc['schema_version']}) to {args.out}")
    return 0


def cmd_import(args) -> int:
    from ferbench.results.transfer import import_results

    rep = import_results(_store(args.store), args.input)
    for line in rep.lines():
        print(line)
    return 1 if rep.conflicts else 0


def cmd_assets(args) -> int:
    from ferbench.assets import ASSETS, asset_path, fetch_asset

    if args.action == "fetch":
        if not args.name:
            raise ConfigError("assets fetch: name the asset, one of "
                              f"{', '.join(n for n, a in sorted(ASSETS.items()) if a.wheel)}")
        path = fetch_asset(args.name, args.wheel)
        print(f"{args.name}: {path} (sha256 {ASSETS[args.name].sha256[:16]}..., checked)")
        return 0
    for name, a in sorted(ASSETS.items()):
        try:
            where = str(asset_path(name))
        except FerbenchError as exc:
            where = f"MISSING: {exc}"
        kind = f"fetched from wheel {a.wheel}" if a.wheel else f"installed package {a.package}"
        print(f"{name}\n  {where}\n  {kind}; sha256 {a.sha256}\n  licence: {a.licence}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
