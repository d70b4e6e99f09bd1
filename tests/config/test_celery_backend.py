"""One (disabled) Celery result backend per process (CELERY_RESULT_BACKEND_THREAD_SAFE): a green
worker runs every task in a new greenlet, and a backend per thread was a backend object per task."""

from __future__ import annotations

import threading


def test_every_thread_shares_the_apps_result_backend():
    from config.celery import app

    seen = []
    thread = threading.Thread(target=lambda: seen.append(app.backend))
    thread.start()
    thread.join()
    assert seen == [app.backend]
    assert app.backend.thread_safe
