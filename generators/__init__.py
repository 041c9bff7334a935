"""ferbench's built-in reference generators (installed as ``ferbench_generators``).

Each one is shaped exactly like an external plugin: a class satisfying
:class:`ferbench.api.Generator`, registered under the ``ferbench.generators`` entry-point
group in ``pyproject.toml``. Nothing here is imported by ferbench's core.
"""
