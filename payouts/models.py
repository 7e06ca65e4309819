"""Ledger, earnings, payout runs, Stripe. Uses `workers` and `tickets`."""
