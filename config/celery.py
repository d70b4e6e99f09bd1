import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task has delay_on_commit/apply_async_on_commit (Celery's DjangoTask): services schedule work
# only once the transaction that made it due has committed; a broker that cannot be reached then
# leaves the work queued for the periodic jobs instead of failing the request (config/scheduling.py).
app = Celery("config", task_cls="config.scheduling:QueuedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Celery replaces the root logger's handlers with its own: they escape control characters too.
@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _escape_log_lines(logger, **kwargs):
    from config.logsafety import escape_handlers_of

    escape_handlers_of(logger)
