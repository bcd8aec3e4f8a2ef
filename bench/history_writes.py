"""History writes to Redis: batched stores beside one round trip per message.

    python -m bench.history_writes                 # about half a minute
    python -m bench.history_writes --tasks 1,16,256 --seconds 3

Runs on eventlet, as the server does, against Redis database 14 of
127.0.0.1 (emptied first). For each number of tasks storing at once, each
task stores messages one after another in its own channel for a fixed time,
three ways, each running the same script (append, trim, publish) on
entries of the same shape:

- *in the background*: :meth:`RedisBackend.store` with a follow-up and no
  wait, as the server stores a client's message (the task goes on at once;
  the batcher's own task sends what every task queued, in pipelines);
- *waiting*: :meth:`RedisBackend.store` and a wait for the id, as the HTTP
  endpoint for server-side events does (there the wait also covers the
  hand-over to local members);
- *one trip each*: the same script called directly, one round trip per
  message, as before batching.

It prints stores per second of each, the ratios to one trip each, and the
commands per round trip in the background.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import time  # noqa: E402

import redis  # noqa: E402

from webapp.backends.base import ClusterMessage  # noqa: E402
from webapp.backends.bus import encode_json, message_head  # noqa: E402
from webapp.backends.redis import BUS, RedisBackend  # noqa: E402
from webapp.backends.redis_registry import key  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/14"
HISTORY_SIZE = 100
FRAME = {"action": "message", "options": {"channel": ""}, "payload": "x" * 64}


def _store_alone(backend: RedisBackend, message: ClusterMessage) -> int:
    """Store and publish as one script call of its own: a round trip."""
    entry = encode_json({**message.frame, "created_at": message.created_at})
    head = message_head(message, backend.process_id)
    keys = [key(1, "hid", message.channel), key(1, "h", message.channel)]
    return backend._append(keys, [entry, HISTORY_SIZE, BUS, head])


def _run(backend: RedisBackend, tasks: int, seconds: float, how: str) -> int:
    """Store from ``tasks`` green threads for ``seconds``; return the stores made."""
    counts = [0] * tasks
    deadline = time.monotonic() + seconds

    def landed(_: object) -> None:
        counts[0] += 1

    def store_until_done(index: int) -> None:
        channel = f"bench:{index}"
        frame = {**FRAME, "options": {"channel": channel}}
        while time.monotonic() < deadline:
            message = ClusterMessage("broadcast", 1, channel, frame)
            if how == "background":
                backend.store(message, HISTORY_SIZE, landed)
                # Lets the others run, as reading a client's next frame does.
                eventlet.sleep(0)
                continue
            if how == "waiting":
                backend.store(message, HISTORY_SIZE).wait()
            else:
                _store_alone(backend, message)
            counts[index] += 1

    pool = eventlet.GreenPool(tasks)
    for index in range(tasks):
        pool.spawn(store_until_done, index)
    pool.waitall()
    stored = sum(counts)
    if how == "background":
        # What was queued by the deadline and stored after it does not count.
        last = ClusterMessage("broadcast", 1, "bench:last", FRAME)
        backend.store(last, HISTORY_SIZE).wait()
    return stored


def main() -> None:
    """Print one table row per number of tasks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="1,8,64,512")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    redis.Redis.from_url(REDIS_URL).flushdb()
    backend = RedisBackend(REDIS_URL)
    backend.check()

    print(
        "| tasks | in the background stores/s | waiting stores/s "
        "| one trip each stores/s | background / one trip | waiting / one trip "
        "| per trip in the background |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tasks in (int(part) for part in args.tasks.split(",")):
        batches, commands = backend._batcher.batches, backend._batcher.commands
        background = _run(backend, tasks, args.seconds, "background")
        per_trip = (backend._batcher.commands - commands) / max(
            1, backend._batcher.batches - batches
        )
        waiting = _run(backend, tasks, args.seconds, "waiting")
        single = _run(backend, tasks, args.seconds, "one trip each")
        rates = [count / args.seconds for count in (background, waiting, single)]
        print(
            f"| {tasks} | {rates[0]:.0f} | {rates[1]:.0f} | {rates[2]:.0f} "
            f"| {rates[0] / max(rates[2], 1):.2f} | {rates[1] / max(rates[2], 1):.2f} "
            f"| {per_trip:.1f} |"
        )
    redis.Redis.from_url(REDIS_URL).flushdb()


if __name__ == "__main__":
    main()
