"""Cases (one per victim per MARAC episode), their people and incidents."""
