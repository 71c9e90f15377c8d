"""Use cases: each opens (or joins) a transaction, runs the services with an ``Outbox``, commits,
then carries the outbox out (``effects.after_commit``). Routers and socket handlers call one
action; only the after-commit step delivers to daemons, publishes on the ``Bus`` or revokes."""
