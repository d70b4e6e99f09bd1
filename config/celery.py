import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Celery replaces the root logger's handlers with its own: they escape control characters too.
@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _escape_log_lines(logger, **kwargs):
    from config.logsafety import escape_handlers_of

    escape_handlers_of(logger)
