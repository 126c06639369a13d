"""The model-based test of the register once end to end: the same state machine
(`test_register_stateful.py`), driving intake and publication on the real Kafka and FerretDB, with the
same invariants read from what the services stored and said on their topics. A few short runs: the
many long ones run in memory."""

from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, run_state_machine_as_test

from .register_on_stack import StackRegister
from .test_register_stateful import RegisterMachine


def test_the_register_keeps_its_invariants_on_the_real_stack(stack: Any) -> None:
    class OnTheStack(RegisterMachine):
        def new_register(self) -> Any:
            return StackRegister(stack)

        @initialize(data=st.data())
        def a_joint_standard_is_published(self, data: st.DataObject) -> None:
            """Every run starts with one joint standard through the whole flow, so a short run on
            the stack still numbers, publishes and tells intake before the random steps."""
            self.propose("chengyu", data, "高速公路服务区服务规范", revise=False)
            self.carried_through(0)

    run_state_machine_as_test(
        OnTheStack,
        settings=settings(
            max_examples=2,
            stateful_step_count=15,
            deadline=None,
            phases=[Phase.generate],  # a failure is reported as found: shrinking on the stack is slow
            suppress_health_check=list(HealthCheck),
        ),
    )
