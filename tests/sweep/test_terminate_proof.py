"""terminate_and_verify: the proof of "gone" (a terminate accepted for the id, then `terminated`), unit by unit."""

from __future__ import annotations

import time
from pathlib import Path

from lambdabench.cloud.errors import NotFoundError, UnknownCloudError
from lambdabench.cloud.models import Instance
from lambdabench.ledger import Ledger
from lambdabench.run.env import Timeouts
from lambdabench.run.nodes import TerminateTarget, terminate_and_verify

T = Timeouts(terminate=5.0, poll=0.001, launch_reconcile=0.2, missing_grace=0.01)


class Cloud:
    """A cloud with behaviour: ids invisible for `hidden` rounds, terminate 404 while invisible (or not)."""

    def __init__(self, instances: dict[str, Instance], hidden: int = 0, hidden_404: bool = True) -> None:
        self.instances = instances
        self.hidden = hidden
        self.hidden_404 = hidden_404
        self.terminated: list[str] = []
        self.lists = 0

    def list_instances(self) -> list[Instance]:
        self.lists += 1
        if self.lists <= self.hidden:
            return []
        return list(self.instances.values())

    def instance_or_none(self, iid: str) -> Instance | None:
        return None if self.lists <= self.hidden else self.instances.get(iid)

    def terminate(self, ids: list[str]) -> list[Instance]:
        out = []
        for i in ids:
            inst = self.instances.get(i)
            if inst is None or (self.hidden_404 and self.lists <= self.hidden):
                raise NotFoundError("Instance not found.", code="global/object-does-not-exist")
            if inst.status in ("terminating", "terminated"):
                raise UnknownCloudError("An unknown error occurred.", code="global/unknown")
            self.instances[i] = Instance(id=i, status="terminated", name=inst.name)
            self.terminated.append(i)
            out.append(self.instances[i])
        return out


def _ledger(tmp_path: Path, *names: tuple[str, str | None]) -> Ledger:
    led = Ledger(tmp_path)
    run = led.add_run(led.create_sweep("s", simulated=True), instance_type="gpu_1x_a10")
    for name, iid in names:
        led.reserve_instance(run, name, "gpu_1x_a10", "r", 129)
        if iid:
            led.record_launch_accepted(name, iid)
    return led


def test_an_invisible_id_is_terminated_by_id_once_the_api_knows_it(tmp_path: Path) -> None:
    cloud = Cloud({"i1": Instance(id="i1", status="booting", name="lambdabench-a")}, hidden=5)
    led = _ledger(tmp_path, ("lambdabench-a", "i1"))
    out = terminate_and_verify(
        cloud,
        led,
        [TerminateTarget("lambdabench-a", "i1")],
        timeouts=T,  # type: ignore[arg-type]
        sleep=lambda s: None,
    )
    assert out.gone == ["lambdabench-a"] and cloud.terminated == ["i1"] and not out.failed
    row = led.instance("lambdabench-a")
    assert row.gone is not None and row.terminate_called is not None


def test_absent_from_every_listing_is_not_gone_without_a_terminate(tmp_path: Path) -> None:
    cloud = Cloud({"i1": Instance(id="i1", status="active", name="lambdabench-a")}, hidden=10**9)
    led = _ledger(tmp_path, ("lambdabench-a", "i1"))
    out = terminate_and_verify(
        cloud,
        led,
        [TerminateTarget("lambdabench-a", "i1")],  # type: ignore[arg-type]
        timeouts=Timeouts(terminate=0.05, poll=0.001),
        sleep=lambda s: None,
    )
    assert out.failed == ["lambdabench-a"] and out.gone == []  # never claimed gone
    assert led.instance("lambdabench-a").needs_attention


def test_already_terminating_after_a_recheck_counts_as_accepted(tmp_path: Path) -> None:
    cloud = Cloud({"i1": Instance(id="i1", status="terminating", name="lambdabench-a")})
    led = _ledger(tmp_path, ("lambdabench-a", "i1"))

    def later(s: float) -> None:
        cloud.instances["i1"] = Instance(id="i1", status="terminated", name="lambdabench-a")

    out = terminate_and_verify(cloud, led, [TerminateTarget("lambdabench-a", "i1")], timeouts=T, sleep=later)  # type: ignore[arg-type]
    assert out.gone == ["lambdabench-a"]


def test_an_id_less_reservation_is_found_by_name_or_closed_after_its_window(tmp_path: Path) -> None:
    cloud = Cloud({"i9": Instance(id="i9", status="active", name="lambdabench-late")}, hidden=3)
    led = _ledger(tmp_path, ("lambdabench-late", None), ("lambdabench-never", None))
    start = time.time()
    out = terminate_and_verify(
        cloud,
        led,
        [
            TerminateTarget("lambdabench-late", None, requested_at=start),  # type: ignore[arg-type]
            TerminateTarget("lambdabench-never", None, requested_at=start),
        ],
        timeouts=T,
        sleep=lambda s: time.sleep(0.01),
    )
    assert out.gone == ["lambdabench-late"] and cloud.terminated == ["i9"]
    assert out.never_listed == ["lambdabench-never"]
    assert led.instance("lambdabench-late").id == "i9"
    # an old reservation is looked for once, not for the whole window
    old = _ledger(tmp_path / "old", ("lambdabench-old", None))
    t0 = time.monotonic()
    out = terminate_and_verify(
        Cloud({}),
        old,
        [TerminateTarget("lambdabench-old", None, requested_at=start - 3600)],  # type: ignore[arg-type]
        timeouts=Timeouts(terminate=30, launch_reconcile=600, poll=0.01),
    )
    assert out.never_listed == ["lambdabench-old"] and time.monotonic() - t0 < 1
