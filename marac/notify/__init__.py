"""Messages to people: the outbox table written in the same transaction as the event (delivery: issue 6)."""
