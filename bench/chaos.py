"""python -m bench chaos [-- options]: break the audit pipeline on purpose, measure what is left.

Each scenario runs against real processes (authz with its outbox relay, projector workers) on a
Kafka broker and a PostgreSQL cluster of the run's own, with a client writing through authz
before, during and after the fault. Per scenario it prints: events written (committed outbox
rows), stored, lost, duplicated, chains verified, dead letters, writes authz acknowledged that
are missing from the trail, and the seconds from the fault's end until every event committed
before that end is stored. Goal: 0 lost, 0 duplicated, every chain verified, current within 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from audit.v1 import event_pb2 as ev
from bench.chaos_env import Stack, StackError, StackUnavailable
from bench.chaos_world import Result, World
from libs.events import codec
from libs.outbox.writer import add_to_outbox

Fault = Callable[[World, argparse.Namespace], Awaitable[None]]


async def projector_before_topic(world: World, args: argparse.Namespace) -> None:
    """Nothing breaks here: the world was built with the worker first (see run_scenario)."""


async def projector_killed(world: World, args: argparse.Namespace) -> None:
    await world.workers[0].stop(signal.SIGKILL)
    world.start_worker()


async def broker_down(world: World, args: argparse.Namespace, seconds: float) -> None:
    await world.stack.run("kafka-down")
    await asyncio.sleep(seconds)
    await world.stack.run("kafka-up")


async def postgres_restarted(world: World, args: argparse.Namespace) -> None:
    await world.stack.run("pg-down")
    await world.stack.run("pg-up")


async def rebalance(world: World, args: argparse.Namespace) -> None:
    second = world.start_worker()  # joins: the group rebalances
    await asyncio.sleep(args.seconds)
    await second.stop(signal.SIGTERM)  # and leaves: another rebalance


async def poison(world: World, args: argparse.Namespace) -> None:
    """Undecodable bytes and an event with a NUL straight onto the topic, and an event larger
    than the broker's limit into the outbox."""
    nul = codec.new_event(
        module="chaos",
        scope="north",
        principal=ev.Principal(type=ev.PRINCIPAL_TYPE_USER, identifier="mal\x00lory"),
        action=ev.ACTION_CREATE,
        resource_type="USER",
        resource_identifier="poison",
        old_state=None,
        new_state=None,
        request=codec.Request(),
    )
    producer = AIOKafkaProducer(bootstrap_servers=world.stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(world.topic, key=b"north", value=b"\xff\x00 not an event")
        await producer.send_and_wait(world.topic, key=b"north", value=nul.SerializeToString())
    finally:
        await producer.stop()
    conn = await asyncpg.connect(world.database_url)
    try:
        async with conn.transaction():
            await add_to_outbox(
                conn,
                event_id=str(uuid.uuid4()),
                topic=world.topic,
                key=b"south",
                payload=os.urandom(3_000_000),
            )
    finally:
        await conn.close()


async def authz_killed(world: World, args: argparse.Namespace) -> None:
    assert world.authz is not None
    await world.authz.stop(signal.SIGKILL)
    await world.start_authz()


SCENARIOS: dict[str, tuple[str, Fault]] = {
    "topic-late": ("projector started before the topic exists", projector_before_topic),
    "projector-kill": ("projector SIGKILLed mid-stream and restarted", projector_killed),
    "broker-10s": (
        "broker stopped 10 s mid-stream",
        lambda w, a: broker_down(w, a, 10 * a.outage_scale),
    ),
    "broker-60s": (
        "broker stopped 60 s mid-stream",
        lambda w, a: broker_down(w, a, 60 * a.outage_scale),
    ),
    "postgres-restart": ("PostgreSQL restarted mid-stream", postgres_restarted),
    "rebalance": ("a second worker joins and leaves mid-stream", rebalance),
    "poison": ("undecodable bytes, a NUL in a field, an oversized event", poison),
    "authz-kill": ("authz SIGKILLed during writes and restarted", authz_killed),
}


async def run_scenario(stack: Stack, workdir: Path, name: str, args: argparse.Namespace) -> Result:
    world = World(stack, workdir, name)
    try:
        await world.create()
        if name == "topic-late":
            world.start_worker()  # before anything made the topic
            await asyncio.sleep(2)
        await world.start_authz()
        if name != "topic-late":
            world.start_worker()
        await world.start_writing(args.rate)
        await asyncio.sleep(args.seconds)
        await SCENARIOS[name][1](world, args)
        fault_end = asyncio.get_running_loop().time()
        mark = await world.mark()
        current = await world.until_current(mark, fault_end, args.drain)
        await asyncio.sleep(args.seconds)
        await world.stop_writing()
        return await world.result(current, args.drain)
    finally:
        await world.close()


def table(results: list[Result]) -> Table:
    out = Table(title="chaos: the audit trail after each fault")
    for column in (
        "scenario", "written", "stored", "lost", "dup", "chains ok", "dead letters",
        "acked, missing", "current after",
    ):  # fmt: skip
        out.add_column(column, justify="left" if column == "scenario" else "right")
    for r in results:
        out.add_row(
            f"{r.scenario}: {SCENARIOS[r.scenario][0]}",
            str(r.written),
            str(r.stored),
            str(r.lost),
            str(r.duplicates),
            f"{r.chains[0]}/{r.chains[1]}",
            str(r.dead_letters),
            str(r.acked_missing),
            "never" if r.current_after_s is None else f"{r.current_after_s:.1f} s",
        )
    return out


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench chaos", description=__doc__)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--rate", type=float, default=60.0, help="writes per second via authz")
    parser.add_argument("--seconds", type=float, default=5.0, help="writing before/after a fault")
    parser.add_argument("--outage-scale", type=float, default=1.0, help="x the broker outages")
    parser.add_argument("--drain", type=float, default=120.0, help="longest wait for the trail")
    parser.add_argument(
        "--workdir", default="", help="keep logs and stack here (default: a temp dir)"
    )
    return parser.parse_args(argv)


async def run(argv: list[str]) -> list[Result]:
    args = parse(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if unknown := [n for n in names if n not in SCENARIOS]:
        raise SystemExit(f"unknown scenario {unknown}; there are {', '.join(SCENARIOS)}")
    with contextlib.ExitStack() as cleanup:
        workdir = Path(
            args.workdir or cleanup.enter_context(tempfile.TemporaryDirectory(prefix="chaos-"))
        )
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        stack = Stack(workdir)
        results = []
        try:
            try:
                await stack.run("pg-up")
                await stack.run("kafka-up")
            except StackError as exc:
                raise StackUnavailable(str(exc)) from exc
            for name in names:
                started = time.monotonic()
                results.append(await run_scenario(stack, workdir, name, args))
                logging.getLogger(__name__).warning(
                    "%s done in %.0f s", name, time.monotonic() - started
                )
        finally:
            with contextlib.suppress(StackError):
                await stack.run("wipe")
    return results


async def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = await run(argv)
    Console(width=max(Console().width, 160)).print(table(results))
