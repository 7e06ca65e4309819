"""Dev-only: Shiftline's local Stripe-compatible server for tests and demos (see `server.py`).

`python manage.py stripe_sandbox --port P --webhook-url URL` runs it; no production app imports it.
"""
