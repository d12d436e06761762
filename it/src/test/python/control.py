"""Every inspect and control command against a jcyme node and a Python node, side by side.

usage: control.py JCYME_NODE PYTHON_NODE JCYME_QUEUE PYTHON_QUEUE
Prints {command: {"jcyme": reply, "python": reply}}; replies are what each node answered.
"""
import json
import sys
import time

from interop import app

jnode, pnode, jqueue, pqueue = sys.argv[1:5]
nodes = {'jcyme': jnode, 'python': pnode}
queues = {'jcyme': jqueue, 'python': pqueue}
out = {}


def both(name, call):
    out[name] = {}
    for side, node in nodes.items():
        replies = call(side, node) or []
        if isinstance(replies, dict):
            replies = [{k: v} for k, v in replies.items()]
        out[name][side] = next((r[node] for r in replies if node in r), 'NO REPLY')


def inspect(method, *args, **kwargs):
    return lambda side, node: getattr(app.control.inspect(destination=[node], timeout=3), method)(*args, **kwargs)


def control(method, *args, **kwargs):
    return lambda side, node: getattr(app.control, method)(*args, destination=[node], reply=True, timeout=3, **kwargs)


# the same starting point on both sides
for node in nodes.values():
    app.control.disable_events(destination=[node], reply=True, timeout=3)

# something to show in active, scheduled and query_task
busy = {side: app.send_task('tasks.sleep', args=[6], queue=queues[side]) for side in nodes}
later = {side: app.send_task('tasks.add', args=[1, 2], queue=queues[side], countdown=60) for side in nodes}


def until(what, condition, timeout=20):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise SystemExit('timed out waiting for ' + what)
        time.sleep(0.1)


def replied(method, node, *args, **kwargs):
    reply = getattr(app.control.inspect(destination=[node], timeout=1), method)(*args, **kwargs) or {}
    return reply.get(node)


for side, node in nodes.items():
    until(side + ' to run the sleep', lambda: replied('active', node))
    until(side + ' to hold the countdown task', lambda: replied('scheduled', node))

both('ping', inspect('ping'))
both('stats', inspect('stats'))
both('active', inspect('active'))
both('active_safe', inspect('active', safe=True))
both('reserved', inspect('reserved'))
both('scheduled', inspect('scheduled'))
both('registered', inspect('registered'))
both('active_queues', inspect('active_queues'))
both('conf', inspect('conf'))
both('clock', inspect('clock'))
out['query_task'] = {side: (app.control.inspect(destination=[node], timeout=3).query_task(busy[side].id) or {}).get(node, 'NO REPLY')
                     for side, node in nodes.items()}
both('revoke', lambda side, node: app.control.revoke(later[side].id, destination=[node], reply=True, timeout=3))
both('revoked', inspect('revoked'))
both('pool_grow', control('pool_grow', 1))
both('pool_shrink', control('pool_shrink', 1))
both('autoscale', control('autoscale', 6, 2))
both('stats_after_autoscale', inspect('stats'))
both('add_consumer', lambda side, node: app.control.add_consumer('interop-extra-' + side, destination=[node], reply=True, timeout=3))
for side, node in nodes.items():
    until(side + ' to consume the extra queue',
          lambda: 'interop-extra-' + side in [q['name'] for q in replied('active_queues', node) or []])
both('active_queues_after_add', inspect('active_queues'))
both('cancel_consumer', lambda side, node: app.control.cancel_consumer('interop-extra-' + side, destination=[node], reply=True, timeout=3))
both('rate_limit', control('rate_limit', 'tasks.add', '10/m'))
both('registered_rate_limited', inspect('registered'))
both('rate_limit_bad', control('rate_limit', 'tasks.add', 'x/m'))
both('rate_limit_unknown', control('rate_limit', 'tasks.nope', '1/s'))
both('rate_limit_off', control('rate_limit', 'tasks.add', ''))
both('time_limit', control('time_limit', 'tasks.sleep', soft=10, hard=20))
both('time_limit_unknown', control('time_limit', 'tasks.nope', soft=10, hard=20))
both('enable_events', control('enable_events'))
both('enable_events_again', control('enable_events'))
both('disable_events', control('disable_events'))
both('disable_events_again', control('disable_events'))
both('nosuchcmd', lambda side, node: app.control.broadcast('nosuchcmd', destination=[node], reply=True, timeout=3))
out['mixed_ping'] = sorted(list(r)[0] for r in app.control.ping(destination=[jnode, pnode], timeout=3))
out['glob_ping'] = sorted(list(r)[0] for r in app.control.broadcast('ping', pattern=jnode.split('@')[0] + '@*',
                                                                     matcher='glob', reply=True, timeout=1.5))
print(json.dumps(out))
