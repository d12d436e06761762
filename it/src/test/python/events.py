"""Feeds celery.events.state.State (what Flower uses) from the event stream while tasks run.

usage: events.py NODE QUEUE SECONDS
Sends 5 tasks.add, 1 tasks.fail and 1 long tasks.sleep to QUEUE, then prints what State knows of NODE,
and the routing keys of the messages that carried a list of events (Celery's buffered groups).
"""
import json
import sys
import threading
import time

from celery.events.state import State
from interop import app

node, queue, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
state = State()
sent = []
lists = []


def send():
    # first the worker's heartbeat, so the receiver is known to be consuming before tasks go out
    deadline = time.time() + 10
    while node not in state.workers and time.time() < deadline:
        time.sleep(0.05)
    for i in range(5):
        sent.append(app.send_task('tasks.add', args=[i, i], queue=queue, ignore_result=True).id)
    sent.append(app.send_task('tasks.fail', args=['x'], queue=queue, ignore_result=True).id)
    sent.append(app.send_task('tasks.sleep', args=[30], queue=queue, ignore_result=True).id)


with app.connection() as connection:
    receiver = app.events.Receiver(connection, handlers={'*': state.event})
    receive = receiver._receive

    def note_lists(body, message):
        if isinstance(body, list):
            lists.append(message.delivery_info['routing_key'])
        receive(body, message)

    receiver._receive = note_lists
    threading.Thread(target=send, daemon=True).start()
    threading.Timer(seconds, lambda: setattr(receiver, 'should_stop', True)).start()
    receiver.capture(limit=None, timeout=10, wakeup=True)

worker = state.workers.get(node)
tasks = [state.tasks.get(i) for i in sent]
print(json.dumps({
    'known': worker is not None,
    'alive': bool(worker and worker.alive),
    'freq': worker.freq if worker else None,
    'processed': worker.processed if worker else None,
    'active': worker.active if worker else None,
    'sw_ident': worker.sw_ident if worker else None,
    'lists': lists,
    'tasks': [{'name': t.name, 'state': t.state, 'result': t.result, 'exception': t.exception,
               'worker': t.worker.hostname if t.worker else None} if t else None for t in tasks],
}))
