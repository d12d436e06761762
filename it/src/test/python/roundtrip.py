"""The smallest Python producer round trip: add, a chain, and a ping; prints them as JSON.

usage: roundtrip.py QUEUE NODE   (the broker comes from JCYME_RABBITMQ_URL)
"""
import json
import sys

from celery import chain, signature
from interop import app

queue, node = sys.argv[1], sys.argv[2]
print(json.dumps({
    'add': app.send_task('tasks.add', args=[2, 3], queue=queue).get(timeout=20),
    'chain': chain(signature('tasks.add', args=(2, 2), queue=queue),
                   signature('tasks.add', args=(4,), queue=queue)).apply_async().get(timeout=20),
    'ping': app.control.ping(destination=[node], timeout=3),
}))
