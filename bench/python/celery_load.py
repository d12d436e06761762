"""Publishes N tasks from Python Celery to QUEUE and, unless --ignore-result, times their results (rpc://).

usage: celery_load.py QUEUE TASK N [--ignore-result] [ARG...]
Publishes all N first and prints "published", so the worker can be started on a full queue. With
--ignore-result the tasks ask for no result and it exits there (the caller times the queue's drain).
Otherwise it publishes N + 1 and times the results from the first to the last to arrive, counted
straight off the rpc reply queue (not through AsyncResult objects, whose bookkeeping would cap the
figure at the client's pace, not the worker's); the last line printed is
{"tasks": N, "seconds": s, "per_second": r}. Args that parse as ints are ints.
"""
import json
import sys
import time

from kombu import Consumer
from interop import app

queue, task, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rest = sys.argv[4:]
ignore = '--ignore-result' in rest
args = [int(a) if a.lstrip('-').isdigit() else a for a in rest if a != '--ignore-result']

if ignore:
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task(task, args=args, queue=queue, ignore_result=True, producer=producer)
    print('published', flush=True)
    sys.exit(0)

with app.producer_or_acquire() as producer:
    for _ in range(n + 1):
        app.send_task(task, args=args, queue=queue, producer=producer)
print('published', flush=True)

first = None
count = 0


def on_result(body, message):
    global first, count
    if body.get('status') in ('SUCCESS', 'FAILURE'):
        count += 1
        if first is None:
            first = time.monotonic()


with app.connection_for_read() as connection:
    with Consumer(connection, queues=[app.backend.binding], callbacks=[on_result], no_ack=True, accept=['json']):
        deadline = time.monotonic() + 600
        while count < n + 1 and time.monotonic() < deadline:
            connection.drain_events(timeout=600)
seconds = time.monotonic() - first
print(json.dumps({'tasks': count - 1, 'seconds': seconds, 'per_second': (count - 1) / seconds}))
