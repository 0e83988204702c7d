"""Sign-in, MFA, server-side sessions and account administration."""
