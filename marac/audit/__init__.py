"""Hash-chained audit events: ``record`` in the same transaction as the change, ``verify_chain`` to check it."""

from marac.audit.services import (
    ChainProblem,
    Event,
    chain_head,
    check_anchor,
    record,
    record_denial,
    record_many,
    verify_chain,
)

__all__ = [
    "ChainProblem",
    "Event",
    "chain_head",
    "check_anchor",
    "record",
    "record_denial",
    "record_many",
    "verify_chain",
]
