"""Run a protocol: resolve the data, build the plan, execute it, return every cell's record.

This is the one entry point the CLI (and any script) calls::

    records = run_protocol(spec, "real-augment", {}, ResultStore(path), Context())
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ferbench.api.generator import GENERATORS, shared_fit_key
from ferbench.engine.context import Context, data_hash, restrict_to
from ferbench.engine.executors import InProcessExecutor
from ferbench.errors import FerbenchError
from ferbench.protocol.plan import DataInfo, Plan, build_plan
from ferbench.protocol.spec import ProtocolSpec

log = logging.getLogger("ferbench")


@dataclass
class RunOutcome:
    plan: Plan
    records: list[dict]          # every cell of the plan, in plan order
    resumed: int                 # cells (and pool results) found finished in the store
    ran: int                     # cells (and pool results) computed now
    pool_records: list[dict] = field(default_factory=list)  # pool results (fidelity)


def _data_resolver(spec: ProtocolSpec, ctx: Context):
    """``seed -> DataInfo``: loads (through the prepared cache) and hashes the data."""
    root = spec.data_root
    test_name = spec.test_dataset or spec.dataset
    test_root = spec.test_data_root or (root if test_name == spec.dataset else None)
    val_split = spec.val_split if ctx.has_split(spec.dataset, spec.val_split) else None
    if val_split == spec.test_split and test_name == spec.dataset:
        val_split = None  # never select on the split that is reported

    opts = dict(spec.data_options)
    test_opts = opts if test_name == spec.dataset else None

    def resolve(seed: int) -> DataInfo:
        train = ctx.dataset(spec.dataset, spec.train_split, root, spec.resolution, spec.channels,
                            opts)
        real = ctx.real_subset(spec.dataset, spec.train_split, root, spec.resolution,
                               spec.channels, spec.effective_real_per_class(),
                               spec.real_fraction, seed, opts)
        test = ctx.dataset(test_name, spec.test_split, test_root, spec.resolution,
                           spec.channels, test_opts)
        test = restrict_to(test, real.classes)
        val_hash = None
        if val_split:
            val_hash = data_hash(ctx.dataset(spec.dataset, val_split, root, spec.resolution,
                                             spec.channels, opts))
        return DataInfo(dataset_hash=data_hash(train), test_dataset_hash=data_hash(test),
                        train_hash=data_hash(real), val_split=val_split,
                        val_dataset_hash=val_hash, n_real=len(real))

    return resolve


def plan_protocol(spec: ProtocolSpec, generator: str | None, generator_params: dict | None,
                  ctx: Context) -> Plan:
    """Validate the generator, resolve the data and expand the spec into a plan."""
    from ferbench.classify import resolve_amp, train_config

    version, params, fit_key = None, dict(generator_params or {}), None
    if spec.needs_generator:
        if generator is None:
            raise FerbenchError(f"protocol '{spec.name}' (mode {spec.mode}) needs --generator")
        gen = GENERATORS.create(generator, **params)  # the only instance made for planning
        version, params = gen.meta.version, gen.get_params()
        fit_key = shared_fit_key(gen)
    elif generator is not None:
        log.info("protocol '%s' trains on real data only; generator '%s' is not used",
                 spec.name, generator)
        generator = None
    amp = "bf16" if resolve_amp(train_config(spec.budget, spec.classifier).amp,
                                ctx.device) else "off"
    score = None
    if spec.mode == "fidelity":
        from ferbench.engine.fidelity import score_config

        score = score_config(spec.budget)
    return build_plan(spec, generator, version, params, _data_resolver(spec, ctx), amp,
                      n_boot=ctx.n_boot, score_config=score, fit_key=fit_key)


def resume_message(plan: Plan, finished: set[str]) -> str:
    """What a re-run found in the store, in words. A real-only cell carries no generator, so
    every generator run at the same setting shares it: finding only those is not a resumed
    (interrupted or repeated) run, and the message says which case it is."""
    cells = {c.cell_id: c for c in plan.cells}
    total = len(cells) + len(plan.scores)
    shared = [i for i in finished if i in cells and cells[i].generator is None]
    own = len(finished) - len(shared)
    if own == 0 and any(c.generator is not None for c in cells.values()):
        return (f"reusing {len(shared)} real-only baseline cell(s) stored by an earlier run at "
                f"this setting (shared by every generator); {total - len(shared)} to compute")
    return (f"resuming: {len(finished)} of {total} results already finished by an earlier "
            f"run of this plan (interrupted or repeated)"
            + (f", {len(shared)} of them shared real-only baseline(s)" if shared and own else ""))


def run_protocol(spec: ProtocolSpec, generator: str | None, generator_params: dict | None,
                 store, ctx: Context, executor=None) -> RunOutcome:
    """Plan, skip finished cells, run the rest, and return every cell's record.

    A KeyboardInterrupt or crash leaves all previously finished cells stored and nothing else.
    """
    plan = plan_protocol(spec, generator, generator_params, ctx)
    ids = [c.cell_id for c in plan.cells]
    score_ids = [j.key for j in plan.scores]
    finished = store.finished_ids(ids) | store.finished_pool_results(score_ids)
    if finished:
        log.info("%s", resume_message(plan, finished))
    results = (executor or InProcessExecutor()).execute(plan, store, ctx, finished)
    old = {r["cell_id"]: r for r in store.get_cells([i for i in ids if i in finished])}
    records = [results[i].to_record() if i in results else old[i] for i in ids]
    old_pools = {r["result_id"]: r for r in store.pool_results() if r["result_id"] in score_ids}
    pool_records = [results[i].to_record() if i in results else old_pools[i] for i in score_ids]
    return RunOutcome(plan=plan, records=records, resumed=len(finished), ran=len(results),
                      pool_records=pool_records)
