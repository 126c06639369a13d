"""The shared event runtime: where reliability is decided once for every regstd service.

- `events`: outgoing and received events in the CloudEvents Kafka binary binding.
- `store`: aggregate documents holding their state, their outbox and the ids of consumed events.
- `relay`: publishes pending outbox events and removes them after the broker acknowledged.
- `consumer`: commits only after the effect is stored; retries, then dead-letters.
- `kafka`: the idempotent producer (acks=all) and explicit topic declaration.
- `settings`, `logs`, `telemetry`: configuration, JSON logs and tracing set-up.
- `bootstrap`: wires these together for one service.
"""
