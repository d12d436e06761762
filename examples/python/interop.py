"""The demo tasks in Python, as a Celery app with the rpc:// backend (the interop tests and the Celery benchmark use it).

A Python worker runs these; a jcyme worker runs the Java tasks of the same names.
"""
import os
import time

from celery import Celery

app = Celery('interop', broker=os.environ.get('JCYME_RABBITMQ_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
             backend='rpc://')
app.conf.worker_hijack_root_logger = False


@app.task(name='tasks.add')
def add(x, y):
    return x + y


def _fib(n):
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)


@app.task(name='tasks.fib')
def fib(n):
    return _fib(n)


@app.task(name='tasks.sleep')
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name='tasks.fail')
def fail(message='tasks.fail was called'):
    raise RuntimeError(message)


@app.task(name='tasks.noop')
def noop():
    return None


@app.task(name='tasks.echo')
def echo(*args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}


@app.task(name='tasks.flaky', bind=True, max_retries=3)
def flaky(self, failures):
    if self.request.retries < failures:
        raise self.retry(countdown=0.1, exc=RuntimeError('attempt %d failed' % (self.request.retries + 1)))
    return self.request.retries


@app.task(name='tasks.workdir', bind=True)
def workdir(self, file=None, text=''):
    # Celery has no work directory per task: ./work/<task-id>/, as a jcyme worker's default
    path = os.path.abspath(os.path.join('work', self.request.id))
    os.makedirs(path, exist_ok=True)
    if file is not None:
        if os.path.basename(file) != file or file in ('', '.', '..'):
            raise ValueError("tasks.workdir() needs a plain file name, got '%s'" % file)
        with open(os.path.join(path, file), 'w') as out:
            out.write(text)
    return path


@app.task(name='tasks.config')
def config():
    # Celery has no live configuration: the initial one, empty, as a jcyme worker started without one
    return {'config_id': 'initial', 'config': {}}


@app.task(name='tasks.lifecycle')
def lifecycle():
    # no birth/death hooks in Celery: the calls a jcyme worker makes at start
    return ['birth(initial)']
