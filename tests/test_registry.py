import pytest

from ferbench.errors import ConfigError
from ferbench.registry import create_generator, generator_distribution, generator_names


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

    eps = [EntryPoint("dup", "pkg_a.mod:Gen", reg.GROUP), EntryPoint("dup", "pkg_b.mod:Gen", reg.GROUP)]
    monkeypatch.setattr(reg, "entry_points", lambda group: eps)
    reg._generator_eps.cache_clear()
    try:
        with pytest.raises(FerbenchError, match="registered twice.*pkg_a.mod:Gen.*pkg_b.mod:Gen"):
            reg.generator_names()
    finally:
        monkeypatch.undo()
        reg._generator_eps.cache_clear()
