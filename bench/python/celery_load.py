"""Publishes N tasks from Python Celery to QUEUE and waits for every result (rpc://).

usage: celery_load.py QUEUE TASK N [ARG...]
Publishes all N first and prints "published", so the worker can be started on a full queue; then
times the results from the first to the last to arrive. The last line printed is
{"tasks": N, "seconds": s, "per_second": r}. Args that parse as ints are ints.
"""
import json
import sys
import time

from celery.result import ResultSet
from interop import app

queue, task, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = [int(a) if a.lstrip('-').isdigit() else a for a in sys.argv[4:]]

results = ResultSet([app.send_task(task, args=args, queue=queue) for _ in range(n + 1)])
print('published', flush=True)
# results in the order they arrive (get() one by one stalls a second on each result that
# overtook another: a Celery client behaviour that would measure the client, not the worker)
first = None
count = 0
for _ in results.iter_native(timeout=600):
    count += 1
    if first is None:
        first = time.monotonic()
seconds = time.monotonic() - first
print(json.dumps({'tasks': count - 1, 'seconds': seconds, 'per_second': (count - 1) / seconds}))
