"""Python Celery producer against a worker on QUEUE; prints one JSON object of what came back.

usage: producer.py QUEUE
"""
import json
import sys
import time

from celery import chain, signature
from interop import app

queue = sys.argv[1]
out = {}


def error(call):
    try:
        call()
    except Exception as e:  # the remote error, rebuilt by Celery
        return {'type': type(e).__name__, 'args': list(e.args)}
    return None


out['add'] = app.send_task('tasks.add', args=[2, 3], queue=queue).get(timeout=20)
out['echo'] = app.send_task('tasks.echo', args=[1, 'two'], kwargs={'three': [3]}, queue=queue).get(timeout=20)
out['fail'] = error(lambda: app.send_task('tasks.fail', args=['boom'], queue=queue).get(timeout=20))
out['unknown'] = error(lambda: app.send_task('tasks.nope', queue=queue).get(timeout=20))
started = time.time()
out['countdown'] = app.send_task('tasks.add', args=[1, 1], queue=queue, countdown=1.5).get(timeout=20)
out['countdown_waited'] = time.time() - started
out['expired'] = error(lambda: app.send_task('tasks.add', args=[1, 1], queue=queue, expires=-1).get(timeout=20))
out['retried'] = app.send_task('tasks.flaky', args=[2], queue=queue).get(timeout=20)
out['retries_exhausted'] = error(lambda: app.send_task('tasks.flaky', args=[9], queue=queue).get(timeout=20))
out['retries_header'] = app.send_task('tasks.flaky', args=[1], queue=queue, retries=1).get(timeout=20)
out['chain'] = chain(signature('tasks.add', args=(2, 2), queue=queue),
                     signature('tasks.add', args=(4,), queue=queue),
                     signature('tasks.add', args=(8,), queue=queue)).apply_async().get(timeout=20)
linked = app.send_task('tasks.add', args=[1, 2], queue=queue,
                       link=signature('tasks.echo', args=('linked',), queue=queue, immutable=False))
out['link_parent'] = linked.get(timeout=20)
ignored = app.send_task('tasks.add', args=[5, 5], queue=queue, ignore_result=True)
out['ignore_result_then'] = app.send_task('tasks.add', args=[6, 6], queue=queue).get(timeout=20)
out['ignored_state'] = ignored.state
running = app.send_task('tasks.sleep', args=[30], queue=queue)
deadline = time.time() + 20
while time.time() < deadline and not app.control.inspect(timeout=0.5).query_task(running.id):
    time.sleep(0.1)
app.control.revoke(running.id, terminate=True)
out['terminated'] = error(lambda: running.get(timeout=20))
print(json.dumps(out))
