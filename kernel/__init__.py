"""The shared kernel: what every app may use, importing no app: errors and their codes, API
plumbing, websocket authentication, realtime publishing and the outbox."""
