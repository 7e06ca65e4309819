"""`stripe_sandbox`: Shiftline's local Stripe-compatible server (see `server.py`)."""
