"""How every page writes money and times: one formatter each, template filters over them, and the
viewer's timezone (an installed app, label `presentation`, so its template tags load everywhere)."""
