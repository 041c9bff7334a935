import pytest

from ferbench.errors import ConfigError
from ferbench.protocol import (
    BUDGET_REAL_PER_CLASS,
    builtin_protocols,
    load_protocol,
    parse_protocol,
)

GOOD = """
name: t
version: 2
mode: mix
ratios: [1, 2]
seeds: [0, 1]
budget: smoke
"""


def test_builtins_parse_and_are_versioned():
    names = set(builtin_protocols())
    assert {"real", "synthetic", "mix"} <= names
    for n in names:
        spec = load_protocol(n)
        assert spec.name == n and spec.version >= 1
    assert load_protocol("mix").ratios == (1, 2, 3, 4, 5)
    assert load_protocol("synthetic").ratios == (1,)


def test_parse_good_spec_and_defaults():
    s = parse_protocol(GOOD, "t.yaml")
    assert s.version == 2 and s.seeds == (0, 1) and s.ratios == (1, 2)
    assert s.dataset == "toyfaces" and s.resolution == 48 and s.channels == 1
    assert s.effective_real_per_class() == BUDGET_REAL_PER_CLASS["smoke"]


@pytest.mark.parametrize("text,needle", [
    (GOOD + "ratoi: [1]\n", "unknown field 'ratoi' (did you mean 'ratios'?)"),
    (GOOD + "budget: quick\n", "duplicate key 'budget'"),
    ("name: t\nversion: 1\n", "missing required field 'mode'"),
    (GOOD.replace("mode: mix", "mode: blend"), "field 'mode'"),
    (GOOD.replace("budget: smoke", "budget: smok"), "did you mean 'smoke'"),
    (GOOD.replace("ratios: [1, 2]", "ratios: [1, -2]"), "field 'ratios'"),
    (GOOD.replace("ratios: [1, 2]", "ratios: []"), "field 'ratios'"),
    (GOOD.replace("seeds: [0, 1]", "seeds: [0, 0]"), "field 'seeds' has duplicates"),
    (GOOD.replace("version: 2", "version: two"), "field 'version'"),
    (GOOD + "channels: 2\n", "field 'channels'"),
    (GOOD + "real_fraction: 1.5\n", "field 'real_fraction'"),
    ("- a\n- b\n", "must be a YAML mapping"),
    ("name: [unclosed\n", "invalid YAML"),
    ("name: t\nversion: 1\nmode: real\nratios: [1]\n", "must be empty for mode 'real'"),
])
def test_rejections_name_file_and_field(text, needle):
    with pytest.raises(ConfigError) as e:
        parse_protocol(text, "bad.yaml")
    assert needle in str(e.value)
    assert str(e.value).startswith("bad.yaml")
    assert "\n" not in str(e.value)


def test_unknown_protocol_suggests():
    with pytest.raises(ConfigError, match="did you mean 'mix'"):
        load_protocol("mixx")


def test_override_validates():
    s = load_protocol("mix").override(budget="smoke", seeds=(3, 4), ratios=(1,), dataset=None)
    assert s.budget == "smoke" and s.seeds == (3, 4) and s.ratios == (1,)
    with pytest.raises(ConfigError, match="budget"):
        s.override(budget="huge")


def _info(seed, **over):
    from ferbench.protocol.plan import DataInfo

    return DataInfo(**{"dataset_hash": "D", "test_dataset_hash": "T", "train_hash": f"r{seed}",
                       **over})


def _plan(spec, gen, params, **over):
    from ferbench.protocol.plan import build_plan

    return build_plan(spec, gen, "1" if gen else None, params, lambda s: _info(s, **over), "off")


def test_plan_mix_has_baseline_ratios_and_stages_per_seed():
    s = parse_protocol(GOOD, "t.yaml")
    plan = _plan(s, "noise", {"smooth": 3})
    cells = plan.cells
    assert len(cells) == 2 * 3
    assert [j.kind for j in plan.jobs].count("fit") == 2  # one fit and one pool per seed
    assert [j.kind for j in plan.jobs].count("pool") == 2
    base = [c for c in cells if c.ratio == 0]
    assert [c.seed for c in base] == [0, 1]
    assert all(c.generator is None and c.mode == "real" for c in base)
    assert {c.ratio for c in cells} == {0.0, 1.0, 2.0}
    assert len({c.cell_id for c in cells}) == len(cells)
    # The baseline cell is shared by every generator; synthetic cells are not.
    other = _plan(s, "real-augment", {}).cells
    assert {c.cell_id for c in base} <= {c.cell_id for c in other}
    syn = {c.cell_id for c in cells if c.ratio > 0}
    assert not syn & {c.cell_id for c in other}
    # Identity does not depend on where the data lives ...
    moved = _plan(s.override(data_root="/elsewhere"), "noise", {"smooth": 3}).cells
    assert [c.cell_id for c in moved] == [c.cell_id for c in cells]
    # ... but on what the data are.
    changed = _plan(s, "noise", {"smooth": 3}, dataset_hash="D2").cells
    assert not {c.cell_id for c in changed} & {c.cell_id for c in cells}
    changed = _plan(s, "noise", {"smooth": 3}, test_dataset_hash="T2").cells
    assert not {c.cell_id for c in changed} & {c.cell_id for c in cells}


def test_plan_needed_skips_finished_cells_and_their_stages():
    s = parse_protocol(GOOD, "t.yaml")
    plan = _plan(s, "noise", {"smooth": 3})
    everything = {c.cell_id for c in plan.cells}
    assert plan.needed(everything) == []
    only_real = {c.cell_id for c in plan.cells if c.ratio > 0}
    kinds = [j.kind for j in plan.needed(only_real)]
    assert kinds == ["cell", "cell"]  # the baselines need no fit and no pool
