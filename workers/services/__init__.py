"""Every write of the workers app, by concern: accounts, vetting, reliability, shifts, claims.

Keyword-only, typed, one transaction each. Lock order, everywhere, so that no two services
deadlock: worker rows, then shift rows (in primary key order), then claim rows, then waitlist rows.
"""
