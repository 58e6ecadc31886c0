"""faust's Kafka transport with two changes: a fetched batch reaches the streams in one task,
and the fetch loop does not sit out a full stream buffer.

faust's `Consumer._drain_messages` hands every message to the conductor through
`wait_first(callback(message), suspend_flow.wait())`: four tasks and an `asyncio.wait` per
message, so that a rebalance can interrupt a delivery blocked on a full stream buffer. At the
projector's rate that costs more than decoding and storing the event. Here the race is run once
per `getmany` batch: the batch is delivered message by message, in order, by one coroutine,
and a rebalance (suspend_flow) or a stop still cancels it where it stands; the messages not
delivered are fetched again from the committed offset, as with faust's own loop.

While the buffer is full, faust pauses the partitions and its fetch loop waits out a whole
timeout (a second when every partition is paused) even if the buffer drains meanwhile; here it
looks again every PAUSED_POLL_S.

Everything else (gaps in acked offsets, commit_every, read offsets, yielding to the loop, the
stop conditions and errors) is faust's, kept in the same order."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode import Service

YIELD_EVERY = 100  # messages delivered between two turns of the event loop, as faust does
PAUSED_POLL_S = 0.02


class BatchDeliveringConsumer(faust_aiokafka.Consumer):
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
                ait = self.getmany(timeout=timeout)
                await self.sleep(0)  # getmany may return at once, again and again
                if not self.should_stop:
                    batch = [item async for item in ait]
                    if batch:
                        await self.wait_first(self._deliver(batch), self.suspend_flow.wait())
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

    async def _deliver(self, batch: list[tuple[TP, Message]]) -> None:
        """faust's per-message steps, for a whole batch."""
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        for n, (tp, message) in enumerate(batch, 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            offset = message.offset
            r_offset = read_offset[tp]
            if r_offset is not None and offset < r_offset:
                continue  # already delivered (faust drops these the same way)
            if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, r_offset + 1, offset)
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            read_offset[tp] = offset


class BatchDeliveringTransport(faust_aiokafka.Transport):
    Consumer = BatchDeliveringConsumer


class BatchDeliveringApp(faust.App):
    """A faust App whose consumer delivers fetched batches in one task (see above)."""

    def _new_transport(self) -> Any:
        return BatchDeliveringTransport(self.conf.broker_consumer, self)
