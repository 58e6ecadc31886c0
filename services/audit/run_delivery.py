"""faust's Kafka transport, handing the streams what a fetch brought from a partition as one
event: a *run*.

faust makes every Kafka record an event of its own: a Message, an Event, a schema decode, a
queue put and get, sensors, a task race (`Consumer._drain_messages` runs `wait_first` per
record) and an acknowledgement. At the projector's rate that bookkeeping cost more than
decoding and storing the record. Here each partition's share of a fetch is one `Run`, a
ConsumerMessage whose value is the tuple of its aiokafka records, in offset order, and whose
offset is the last one's. The stream's reader marks a run `processed` when it is done with it,
then acknowledges it; that registers the offsets before its last as a gap (faust's own device
for offsets no event stands for) and acknowledges the last: the commit moves past the whole run,
and never before. A run faust acknowledges by itself (it skips events that cross a rebalance)
moves nothing.

An app on this transport must declare the topics it consumes with RUNS, the schema that hands
a run to the stream as it is.

faust's rules are kept: read offsets (a record already delivered is not delivered again), the
flow and generation checks of a rebalance, commit_every, the stop conditions and errors. A
rebalance or a stop cancels a delivery where it stands; the runs not delivered are fetched
again from the committed offset, as with faust's own loop.

While the stream's buffer is full, faust pauses the partitions and its fetch loop waits out a
whole timeout (a second when every partition is paused) even if the buffer drains meanwhile;
here it looks again every PAUSED_POLL_S. And the broker holds a fetch that finds nothing new for
FETCH_MAX_WAIT_MS, not faust's 1.5 s (see there)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import faust
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT
from faust.types.tuples import ConsumerMessage
from mode import Service

PAUSED_POLL_S = 0.02
# How long the broker may hold a fetch that finds nothing new (faust asks for 1.5 s). aiokafka
# keeps one fetch in flight per broker, and a partition joins the next fetch only once its
# fetched records are consumed: a backlog on some partitions waited behind the long poll of the
# idle others, read in bursts with pauses of up to 1.5 s (1.2 s measured).
FETCH_MAX_WAIT_MS = 100

Records = Sequence[Any]  # aiokafka ConsumerRecords of one partition, in offset order


class Run(ConsumerMessage):
    """One partition's records from one fetch, delivered and acknowledged as one message."""

    def __init__(self, tp: TP, records: Records, first: int, generation_id: int) -> None:
        last = records[-1]
        timestamp = last.timestamp / 1000.0 if last.timestamp is not None else None
        super().__init__(
            tp.topic,
            tp.partition,
            last.offset,
            cast(float, timestamp),
            last.timestamp_type,
            None,
            None,
            cast(Any, records),
            None,
            0,
            sum(record.serialized_value_size for record in records),
            tp,
            generation_id=generation_id,
        )
        self.first = first  # from here to the last record, the run stands for every offset
        self.processed = False  # set by the stream's reader once it is done with the records

    def on_final_ack(self, consumer: Any) -> bool:
        if not self.processed:
            # faust acknowledges by itself an event it skips (one that crossed a rebalance, or
            # came while the flow was stopped). Nothing of this run was processed: it must not
            # move the commit, and its records are fetched again from the committed offset.
            self.acked = True
            return False
        # The gap only now: registered at delivery, it would outlive a run dropped by a
        # rebalance and let a later commit pass offsets that run never processed.
        cast(RunDeliveringConsumer, consumer).cover(self.tp, self.first, self.offset - 1)
        return super().on_final_ack(consumer)


class RunSchema(faust.Schema):  # type: ignore[type-arg]
    """Hands a run to the stream as it is: its records are decoded by the agent."""

    def compile(self, app: AppT, **_: Any) -> Any:
        create_event = app.create_event

        async def decode(message: Run, *, propagate: bool = False) -> Any:
            return create_event(None, message.value, None, message)

        return decode


RUNS = RunSchema()


class RunDeliveringConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> RunDeliveringConsumerThread:
        return RunDeliveringConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def cover(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Mark offsets as standing for no event of their own (faust's `_add_gap`, at once)."""
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed + 1)
        if offset_from <= offset_to:
            gaps = self._gap[tp]
            gaps.addi(offset_from, offset_to + 1)  # intervaltree intervals exclude their end
            gaps.merge_overlaps()

    async def _drain_messages(self, fetcher: Any) -> None:
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        fetching = faust_consumer.CONSUMER_FETCHING
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(fetching)
                if self._buffered_partitions:
                    # Partitions are paused while the stream's buffer is full, and resumed as it
                    # drains. faust's getmany would wait out its timeout for the paused ones
                    # (and sleep a whole second when all are): look again soon instead.
                    if not self._get_active_partitions():
                        await self.sleep(PAUSED_POLL_S)
                        unset_flag(fetching)
                        continue
                    timeout = PAUSED_POLL_S
                else:
                    timeout = 1.0
                runs = await self._fetch_runs(timeout)
                await self.sleep(0)  # a fetch may return at once, again and again
                if runs and not self.should_stop:
                    # faust's commit_every, outside the delivery a rebalance may cancel
                    every = self._commit_every
                    if every is not None and self._n_acked >= every:
                        self._n_acked = 0
                        await self.commit()
                    generation = self.app.consumer_generation_id
                    await self.wait_first(self._deliver(runs, generation), self.suspend_flow.wait())
                unset_flag(fetching)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(fetching)

    async def _fetch_runs(self, wait_s: float) -> list[tuple[TP, Records]]:
        """faust's getmany, by partition rather than record by record."""
        records, active = await self._wait_next_records(wait_s)
        if records is None or self.should_stop:
            return []
        if not self.flow_active:
            self.log.dev("fetched while flow not active: seek back to committed offsets")
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return []
        runs: list[tuple[TP, Records]] = []
        for tp, tp_records in records.items():
            if tp_records and (active is None or tp in active or tp in self._buffered_partitions):
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                runs.append((tp, tp_records))
        return runs

    async def _deliver(self, runs: list[tuple[TP, Records]], generation: int) -> None:
        callback = self.callback
        read_offset = self._read_offset
        for tp, records in runs:
            if not self.flow_active or self.app.consumer_generation_id != generation:
                return  # a rebalance began: the rest is fetched again
            r_offset = read_offset[tp]
            if r_offset is not None and records[0].offset < r_offset:
                records = [record for record in records if record.offset >= r_offset]
                if not records:
                    continue  # delivered already (faust drops these the same way)
            # From the offset after the last one read: offsets with no record (compacted,
            # transaction markers) are passed with this run.
            first = records[0].offset
            if r_offset is not None:
                first = min(first, r_offset + 1)
            await callback(Run(tp, tuple(records), first, generation))
            read_offset[tp] = records[-1].offset


class RunDeliveringConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer


class RunDeliveringTransport(faust_aiokafka.Transport):
    Consumer = RunDeliveringConsumer


class RunDeliveringApp(faust.App):
    """A faust App whose consumer delivers each partition's fetched records as one run."""

    def _new_transport(self) -> Any:
        return RunDeliveringTransport(self.conf.broker_consumer, self)
