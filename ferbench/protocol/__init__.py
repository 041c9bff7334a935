"""Protocols: strict, versioned YAML specs (:mod:`.spec`) and their expansion into a plan of
jobs, fit -> pool -> cell (:mod:`.plan`)."""

from ferbench.protocol.spec import (
    AU_TARGETS,
    BUDGET_REAL_PER_CLASS,
    BUDGETS,
    MODES,
    PROTOCOLS,
    ProtocolSpec,
    builtin_protocols,
    load_protocol,
    parse_protocol,
)

__all__ = ["AU_TARGETS", "BUDGETS", "BUDGET_REAL_PER_CLASS", "MODES", "PROTOCOLS",
           "ProtocolSpec", "builtin_protocols", "load_protocol", "parse_protocol"]
