"""Hash-chained audit events: ``record`` in the same transaction as the change, ``verify_chain`` to check it."""

from marac.audit.services import ChainProblem, chain_head, check_anchor, record, record_denial, verify_chain

__all__ = ["ChainProblem", "chain_head", "check_anchor", "record", "record_denial", "verify_chain"]
