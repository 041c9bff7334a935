import pytest

from ferbench.api import create_generator, generator_distribution, generator_names
from ferbench.errors import ConfigError


def test_builtins_registered_through_entry_points():
    names = generator_names()
    assert {"noise", "real-augment"} <= set(names)
    # Registered by ferbench's own pyproject, exactly like a plugin would be.
    assert generator_distribution("noise") == "ferbench"


def test_unknown_generator_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'real-augment'"):
        create_generator("real-augmnt")


def test_bad_params_are_config_errors():
    with pytest.raises(ConfigError, match="bad parameters"):
        create_generator("noise", nonsense=1)


def test_duplicate_name_across_distributions_is_an_error(monkeypatch):
    from importlib.metadata import EntryPoint

    import ferbench.registry as reg
    from ferbench.errors import FerbenchError

    group = "ferbench.test_things"
    eps = [EntryPoint("dup", "pkg_a.mod:Gen", group), EntryPoint("dup", "pkg_b.mod:Gen", group)]
    monkeypatch.setattr(reg, "entry_points", lambda group: eps)
    r = reg.Registry("test thing", group=group)
    with pytest.raises(FerbenchError, match="registered twice.*pkg_a.mod:Gen.*pkg_b.mod:Gen"):
        r.names()


def test_lazy_builtin_and_did_you_mean():
    from ferbench.registry import Registry

    r = Registry("widget", builtins={"alpha": "json:dumps", "broken": "no_such_module_xyz:f"})
    import json

    assert r.get("alpha") is json.dumps
    assert r.names() == ["alpha", "broken"]
    with pytest.raises(ConfigError, match="did you mean 'alpha'"):
        r.get("alpah")
    from ferbench.errors import FerbenchError

    with pytest.raises(FerbenchError, match="widget 'broken'.*failed to load"):
        r.get("broken")
