"""The pure kernel: what every service's domain needs and nothing that does I/O.

- `time`: China Standard Time, today's date there, the service's clock (`Now`).
- `calendar`: Chinese working days (`WorkingDayCalendar`: announced arrangements with 调休, else the
  statutory holidays by rule, provisional) and month arithmetic.
- `clocks`: statutory deadlines kept inside an aggregate (`Clock`, `Period`, `ClockView`).
- `errors`: why a command is refused (`Invalid`, `NotFound`, `Conflict`, `Forbidden`).
- `principals`: who acts (`Principal`) and what each kind may do.

A domain module imports only this kernel and `regstd.contracts`; the runtime (Kafka, the store,
HTTP, telemetry) depends on the kernel, never the reverse (`tests/test_architecture.py`).
"""
