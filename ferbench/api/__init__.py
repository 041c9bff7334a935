"""ferbench's public API for plugin authors: the generator contract and the result schema.

``from ferbench.api import Budget, GeneratorMeta, SampleBatch, TrainSet`` is all a generator
plugin needs (plus :func:`save_fitted` / :func:`load_fitted` for its weights).
"""

from ferbench.api.generator import (
    BUDGETS,
    GENERATORS,
    MAX_TOP_UPS,
    Budget,
    Generator,
    GeneratorMeta,
    SampleBatch,
    accepts_kwarg,
    can_save,
    create_generator,
    generator_class,
    generator_distribution,
    generator_names,
    init_params,
    load_fitted,
    save_fitted,
    set_init_params,
    shared_fit_key,
)
from ferbench.data.base import TrainSet

__all__ = [
    "BUDGETS", "GENERATORS", "MAX_TOP_UPS", "Budget", "Generator", "GeneratorMeta",
    "SampleBatch", "TrainSet", "accepts_kwarg", "can_save", "create_generator",
    "generator_class", "generator_distribution", "generator_names", "init_params",
    "load_fitted", "save_fitted", "set_init_params", "shared_fit_key",
]
