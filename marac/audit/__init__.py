"""Hash-chained audit events: ``record`` in the same transaction as the change, ``verify_chain`` to check it."""

from marac.audit.services import ChainProblem, record, record_denial, verify_chain

__all__ = ["ChainProblem", "record", "record_denial", "verify_chain"]
