import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app as celery_app


@pytest.mark.django_db(transaction=True)
def test_healthz_is_200_with_a_worker_and_needs_no_login(client):
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["broker"] == "ok" and body["workers"] >= 1
    assert set(body) == {"database", "broker", "workers"}


@pytest.mark.django_db
def test_healthz_is_503_naming_the_workers_when_none_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "database": "ok",
        "broker": "ok",
        "workers": 0,
        "failing": ["workers"],
    }


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_redis_is_unreachable(client):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"
    assert "broker" in response.json()["failing"]


@pytest.mark.django_db
def test_healthz_reveals_no_configuration(client):
    body = client.get("/healthz").content.decode()
    for secret in ("redis://", "postgres", "SECRET", "127.0.0.1"):
        assert secret not in body
